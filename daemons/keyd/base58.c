/* Placeholder until this part lands. */
#include "base58.h"
