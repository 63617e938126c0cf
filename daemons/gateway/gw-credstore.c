/* Placeholder until this part lands. */
#include "gw-credstore.h"
