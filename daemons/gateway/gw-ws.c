/* Placeholder until this part lands. */
#include "gw-ws.h"
