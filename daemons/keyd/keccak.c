/* Placeholder until this part lands. */
#include "keccak.h"
