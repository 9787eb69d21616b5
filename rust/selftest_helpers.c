// SPDX-License-Identifier: GPL-2.0
/* The selftest module links its own copy of the helpers. */
#include "helpers.c"
