/* Placeholder until this part lands. */
#include "gw-agents.h"
