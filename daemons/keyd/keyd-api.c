/* Placeholder until this part lands. */
#include "keyd.h"
