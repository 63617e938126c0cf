/* Placeholder until this part lands. */
#include "httpparse.h"
