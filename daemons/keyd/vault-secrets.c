/* Placeholder until this part lands. */
#include "vault.h"
