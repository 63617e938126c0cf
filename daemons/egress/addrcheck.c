/* Placeholder until this part lands. */
#include "addrcheck.h"
