/* Placeholder until this part lands. */
#include "egress.h"
