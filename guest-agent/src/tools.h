/* Tools built into the agent that an exec runs inside a container without needing anything from its image (hyper cp). */
#ifndef HYPER_TOOLS_H
#define HYPER_TOOLS_H

/* argv[0] is the tool's name; returns its exit code (0 done, 1 done with some entries skipped, 2 failed). */
typedef int tool_fn(int argc, char **argv);

/* The tool of that name, or NULL: "tar-out DIR NAME" writes a tar stream of DIR/NAME (entries named NAME/…) to stdout;
 * "tar-in DEST" extracts a tar stream from stdin as docker cp does: into DEST if it is a directory, else as DEST. */
tool_fn *tool_for(const char *name);

#endif
