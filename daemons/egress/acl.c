/* Placeholder until this part lands. */
#include "acl.h"
