// Linux calls Swift's Glibc module does not import (they are GNU extensions), wrapped.
#ifndef CCAIRN_SYSTEM_H
#define CCAIRN_SYSTEM_H

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np: close every descriptor from `from` in the child.
int ccairn_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// posix_spawn_file_actions_addchdir_np: the child's working directory.
int ccairn_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
/// pipe2(fds, O_CLOEXEC).
int ccairn_pipe_cloexec(int fds[2]);

#endif
