/* Production builds: fault points do nothing. Weak, so that the uvmd-fault
 * binary's strong definition (fault_on.c) replaces it at link time while
 * every other binary and test links this one without choosing. */

#include "common/fault.h"

/* Windows links no fault_on.c, and PE's weak definitions are not pulled
 * from an archive by a reference: a plain one there. */
#ifndef _WIN32
__attribute__((weak))
#endif
void fault_point(const char *step)
{
        (void) step;
}
