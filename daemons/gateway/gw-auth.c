/* Placeholder until this part lands. */
#include "gw-auth.h"
