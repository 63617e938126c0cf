/* Placeholder until this part lands. */
#include "secmem.h"
