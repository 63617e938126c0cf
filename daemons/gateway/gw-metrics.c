/* Placeholder until this part lands. */
#include "gw-api.h"
