/* Placeholder until this part lands. */
#include "gateway.h"
