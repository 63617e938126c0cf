/* http_get: libcurl's multi interface on the engine's epoll (CURLMOPT_SOCKETFUNCTION puts curl's
 * sockets in the set, CURLMOPT_TIMERFUNCTION gives the engine curl's next deadline). http and
 * https only, redirects not followed (as osModa's curl without -L: a 301 is compared with
 * expect_status like any status), no proxy, and the transfer is cut at the first body byte:
 * the status line is all a check needs. */
#include <errno.h>
#include <sys/epoll.h>

#include "checks-internal.h"
#include "common/timeutil.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct checks *e = userp;
    struct epoll_event ev = {.data.u64 = ((uint64_t)s << 1) | 1};

    if (what == CURL_POLL_REMOVE) {
        checks_epoll_del(e, s);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct checks *e = userp;

    e->curl_deadline_ms = timeout_ms < 0 ? -1 : osm_monotonic_ms() + timeout_ms;
    return 0;
}

int check_http_init(struct checks *e)
{
    pthread_once(&curl_once, curl_init_once);
    if (!(e->multi = curl_multi_init()))
        return -ENOMEM;
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    return 0;
}

void check_http_free(struct checks *e)
{
    if (e->multi)
        curl_multi_cleanup(e->multi);
}

static size_t discard_body(char *ptr, size_t size, size_t n, void *userdata)
{
    return 0; /* the status is known: stop here (CURLE_WRITE_ERROR) */
}

int check_http_start(struct check_job *j)
{
    CURL *c = curl_easy_init();

    if (!c)
        return -ENOMEM;
    if (curl_easy_setopt(c, CURLOPT_URL, j->check->url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
        curl_easy_cleanup(c);
        return -EINVAL;
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "osmoda-watch");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(j->e->multi, c) != CURLM_OK) {
        curl_easy_cleanup(c);
        return -ENOMEM;
    }
    j->easy = c;
    return 0;
}

static void finish_transfer(struct check_job *j, CURLcode res)
{
    long status = 0;

    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status > 0 && (res == CURLE_OK || res == CURLE_WRITE_ERROR))
        checks_job_finish(j, status == j->check->expect_status, "status %ld", status);
    else
        checks_job_finish(j, false, "%s", curl_easy_strerror(res));
}

static void read_done(struct checks *e)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(e->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            struct check_job *j = NULL;

            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            if (j)
                finish_transfer(j, m->data.result);
        }
}

void check_http_event(struct checks *e, int fd, uint32_t events)
{
    int mask = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
               (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;

    curl_multi_socket_action(e->multi, fd, mask, &running);
    read_done(e);
}

void check_http_timer(struct checks *e)
{
    int running;

    if (e->curl_deadline_ms < 0 || e->curl_deadline_ms > osm_monotonic_ms())
        return;
    e->curl_deadline_ms = -1;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    read_done(e);
}

void check_http_release(struct check_job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(j->e->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
}
