/* MySQL 8.4 creates SELECT ... INTO OUTFILE/DUMPFILE files with mode 0640 ("the umask for file
 * creation is 0640"); MariaDB creates them 0644 and sets that mode with fchmod(). Preloaded into
 * the stand-in's server, this turns MariaDB's 0644 into MySQL's 0640, so that a local run meets
 * the same permissions as the deployed sidecar. Nothing else the server does is changed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/stat.h>

int fchmod(int fd, mode_t mode) {
	static int (*real_fchmod)(int, mode_t);
	if (!real_fchmod)
		real_fchmod = (int (*)(int, mode_t))dlsym(RTLD_NEXT, "fchmod");
	return real_fchmod(fd, mode == 0644 ? 0640 : mode);
}
