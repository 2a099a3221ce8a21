/* Production builds: fault points do nothing. Weak, so that the uvmd-fault
 * binary's strong definition (fault_on.c) replaces it at link time while
 * every other binary and test links this one without choosing. */

#include "common/fault.h"

__attribute__((weak)) void fault_point(const char *step)
{
        (void) step;
}
