#pragma once

#include "stream/stream.h"

/* Local processes and loopback ports as a streaming backend (tests only). */
extern const struct stream_backend local_backend;
