#pragma once

/* Remove the cgroup rel ("uvmd/<pod id>") from every mounted hierarchy.
 * It must be empty (its containers gone); failures are logged and ignored. */
void sbx_cgroup_remove(const char *rel);
