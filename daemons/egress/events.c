/* Placeholder until this part lands. */
#include "events.h"
