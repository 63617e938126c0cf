/* The supervised service of the restart benchmark: at start it connects to the bench's unix
 * socket (the kernel gives the bench its pid through SO_PEERCRED, in the bench's own pid
 * namespace), then waits to be killed. With --daemon PIDFILE it forks into the background first
 * and writes its pid there, as monit's `check process ... with pidfile` expects.
 * Usage: announce SOCKET [--daemon PIDFILE] */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int daemonize(const char *pidfile)
{
    pid_t pid = fork();
    FILE *f;

    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    setsid();
    if (!(f = fopen(pidfile, "w")))
        return -1;
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--daemon") == 0)) {
        fputs("usage: announce SOCKET [--daemon PIDFILE]\n", stderr);
        return 2;
    }
    if (argc == 4 && daemonize(argv[3]) < 0)
        return 1;
    if (strlen(argv[1]) >= sizeof(sa.sun_path))
        return 2;
    strcpy(sa.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return 1;
    for (;;)
        pause();
}
