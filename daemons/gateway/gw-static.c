/* Placeholder until this part lands. */
#include "gw-http.h"
