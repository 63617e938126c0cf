/* Placeholder until this part lands. */
#include "gw-chat.h"
