/* Placeholder until this part lands. */
#include "gw-credstore.h"
#include "gw-agents.h"
