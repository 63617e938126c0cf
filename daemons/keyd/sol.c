/* Placeholder until this part lands. */
#include "sol.h"
