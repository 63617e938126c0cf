/* Placeholder until this part lands. */
#include "resolve.h"
