/* Placeholder until this part lands. */
#include "kpolicy.h"
