/* Placeholder until this part lands. */
#include "rlp.h"
