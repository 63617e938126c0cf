/* The drivers other than claude-code, each in a file of its own, for the table in gw-drivers.c. */
#pragma once

#include "gw-chat.h"

extern const struct gw_driver gw_driver_anthropic; /* gw-driver-anthropic.c */
