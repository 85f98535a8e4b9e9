// Package launch starts a command with fewer Linux capabilities than its
// caller: a reduced bounding set, inheritable, permitted, effective and
// ambient sets that make the kept capabilities usable (for a non-root user
// too, through the ambient set) and nothing more, an optional user and group
// switch, no_new_privs, and a clean environment. It is what `capdrop run`
// does, and what setpriv(1) and capsh(1) do when used exactly right.
//
// # How
//
// Capabilities belong to threads, and a Go program has many, so the caller
// never changes its own credentials. Prepare reads the caller's state and
// computes a Plan; Plan.Start re-executes the running binary
// (/proc/self/exe) as a single-purpose init whose one locked OS thread
// applies the plan in runc's order — drop the bounding set, keep
// capabilities across the identity switch, setgroups/setresgid/setresuid
// (raw syscalls on that thread), set inheritable/permitted/effective, raise
// the ambient set, set no_new_privs — checks that the kernel now reports
// exactly the planned sets, and execs the command. The init is recognised
// by its argv[0] and reads its instructions from an inherited socket (fd 3),
// never from the environment; it runs with an empty environment, refuses to
// run when the binary was executed with privileges it gained itself (set-id
// bits or file capabilities, AT_SECURE), and can only reduce what it holds.
// The socket is close-on-exec: if the init fails it reports why on it, and
// if the exec succeeds the launcher sees it closed.
//
// A program that starts commands calls Init first thing in main (tests in
// their TestMain): started as the init, the process becomes it there, before
// anything else runs. Importing the package alone changes nothing, and
// Start refuses to run in a program that never called Init.
//
// # What the command gets
//
// The bounding set is what the request keeps. A command running as root
// gets its bounding set as permitted and effective at execve, as under
// Docker; inheritable and ambient stay empty. A command running as any
// other user gets the capabilities the request explicitly adds
// (Request.Add, or everything with AddAll) in permitted, effective,
// inheritable and ambient, as Podman does for a non-root container user:
// without ambient, execve would clear them. A non-root caller that keeps its
// identity also keeps its own ambient capabilities unless it drops them. Other capabilities kept in the
// bounding set are not usable by a non-root command, so `--user nobody`
// alone never hands root's capabilities to nobody.
//
// Supplementary groups are the target user's groups from the group file,
// like login, su and `setpriv --init-groups`; without a user switch the
// caller's identity and groups are kept. The environment is reduced, as
// sudo's env_reset does, to PATH, TERM, LANG, LANGUAGE, LC_* and TZ from
// the caller plus HOME, USER, LOGNAME and SHELL of the target user, unless
// KeepEnv. File descriptors other than 0, 1 and 2 are not passed on, as
// with sudo and runc: an open descriptor is a privilege too.
//
// The command's parent-death signal is SIGKILL, so it does not outlive a
// launcher that is killed (the kernel delivers it only if the launcher may
// signal the command, which holds unless the launcher lacks CAP_KILL and
// the command runs as another user).
package launch
