/* Placeholder until this part lands. */
#include "eth.h"
