/* Placeholder until this part lands. */
#include "amount.h"
