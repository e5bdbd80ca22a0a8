// Package childproc runs a child process the way a container's init should: in a process group of
// its own, signalled as a group, and waited for as a group, so that a leader that exits at once on
// SIGTERM (`npm start`) does not end the wait while the program it started (`node app.js`) is still
// shutting down. A group that overstays its grace is SIGKILLed as a whole.
//
// When the agent is a container's entrypoint it is PID 1, and every orphaned descendant becomes its
// child; EnableReaper makes it a child subreaper (on Linux) and reaps such orphans as they exit, so
// no <defunct> process accumulates across restarts. The reaper never takes the exit status of a
// process started with Start: those belong to their Process. Once the reaper is enabled, every
// child of this process must be started with Start (the agent's roles do), or its status may be
// reaped by the reaper instead of its own Wait.
package childproc
