/* Placeholder until this part lands. */
#include "proxy.h"
