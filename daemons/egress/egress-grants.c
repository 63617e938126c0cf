/* Placeholder until this part lands. */
#include "egress-api.h"
