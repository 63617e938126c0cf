/* lib/policy/shellcmd and the destructive-command early warning built on it: a table of
 * command lines that must and must not escalate, what the walk sees (effective commands,
 * pipes, redirections, nesting), the limits, and unparseable input failing closed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/shellcmd.h"

/* ---- the early warning ------------------------------------------------------------------ */

/* Ordinary diagnostics and harmless commands: none may wait for a person. */
static const char *const must_not[] = {
    "cat /etc/passwd | wc -l",
    "grep -c passwd /etc/nsswitch.conf",
    "ls -la /dev/ 2>/dev/null",
    "echo rm -rf /",
    "systemctl status nginx",
    "journalctl -u ssh -n 50",
    "ps aux | grep kill",
    "which reboot",
    "cat /var/log/halt.log",
    "git log --grep=shutdown",
    "df -h; free -m",
    "dd if=/dev/zero of=/workspace/f bs=1M count=1",
    "kill -0 123",
    /* more of the same kind */
    "ls",
    "",
    "   ",
    "# rm -rf /",
    "echo hi # ; reboot",
    "printf '%s\\n' 'rm -rf /'",
    "echo \"sudo reboot\"",
    "grep -r shutdown /var/log",
    "grep -rf patterns.txt .",
    "rm -f /tmp/x",
    "rm -r build",
    "rm -i -r build",
    "rm -- -rf",
    "type reboot; command -v shutdown; whereis halt",
    "man 8 reboot",
    "systemctl is-active sshd && systemctl list-units --failed",
    "systemctl restart nginx",
    "systemctl show -p ActiveState stop.service",
    "systemctl --type=service status stop",
    "service nginx status",
    "kill 123",
    "kill -15 123; kill -TERM 456; kill -s HUP 7",
    "kill -l 9",
    "chmod 644 /srv/www/index.html",
    "chmod u+w,g-w file; chmod +x run.sh; chmod o-w file",
    "chmod 755 dir",
    "chown www-data file",
    "chmod -r file",
    "iptables -L -n -v",
    "iptables -t nat -L",
    "nft list ruleset",
    "fdisk -l",
    "fdisk -l /dev/sda",
    "parted -l",
    "lsblk; blkid; mount | grep /dev/sd",
    "echo ok > /dev/null; echo err 2> /dev/stderr; echo x >/dev/stdout",
    "cat x > /dev/fd/2; echo > /dev/tty; echo x > /dev/shm/cache",
    "echo x 2>&1 >/dev/null",
    "cmd >& /dev/null",
    "cat < /dev/sda | head -c 512 | xxd",
    "dd if=/dev/sda of=/workspace/mbr bs=512 count=1",
    "dd if=/dev/zero of=/dev/null count=1",
    "curl -s https://example.com | jq .",
    "curl -s x | grep sh",
    "curl -s x | bash -c 'wc -l'",
    "ls | xargs -n 1 sh -c 'echo $0'",
    "cat data.json | python3 -m json.tool",
    "echo 1 | python3 -c 'import sys; print(sys.stdin.read())'",
    "python3 script.py < input.txt",
    "bash script.sh",
    "sh -c 'echo hello'",
    "bash -lc 'ls -la'",
    "sudo ls /root",
    "sudo -l",
    "env | sort",
    "nohup ./server &",
    "find . -name '*.log' -mtime +7 -print",
    "find /var/log -exec ls -la {} +",
    "find . -type f -exec chmod 644 {} \\;",
    "xargs -0 ls < list",
    "mv a b; mv -t /srv a b",
    "mv /srv/a /srv/b",
    "cp -r /etc /workspace/etc-backup",
    "tar czf /workspace/b.tgz /etc",
    "crontab -l",
    "pgrep -a nginx",
    "ss -tlnp; ip a; ip route",
    "uptime; who; last -n 5",
    "ls -la /sbin/reboot /sbin/shutdown",
    "stat /usr/sbin/halt",
    "journalctl -b -1 | grep -i 'reboot'",
    "echo $((1 + 2)) $(( (3 + 4) * 2 ))",
    "for f in *.log; do wc -l \"$f\"; done",
    "while read -r l; do echo \"$l\"; done < /etc/hosts",
    "if [ -f /etc/os-release ]; then . /etc/os-release; echo $ID; fi",
    "case $(uname -s) in Linux) echo linux;; *) echo other;; esac",
    "x=$(hostname); echo ${x:-unknown}",
    "arr=(a b c); echo ${arr[@]}",
    "{ uname -a; uptime; } 2>&1 | tee /workspace/report.txt",
    "(cd /var/log && ls -la)",
    "cat <<'EOF' > /workspace/notes.txt\nrm -rf /\nreboot\nEOF",
    "cat <<EOF\nhello $USER\nEOF",
    "echo a && echo b || echo c",
    "test -d /proc && echo yes",
    "[[ -f /etc/passwd ]] && echo present",
    "watch -n 1 df -h",
    "timeout 5 ping -c 1 127.0.0.1",
    "nice -n 10 tar czf /workspace/x.tgz /srv",
    "docker ps; docker logs --tail 50 web",
    "apt-cache policy nginx",
    "awk -F: '{print $1}' /etc/passwd",
    "sed -n '1,5p' /etc/shadow.bak",
    "stdbuf -oL tail -n 100 /var/log/syslog",
    "busybox ls /",
    "ssh",
    "f() { echo hi; }; f | cat",
    "eval echo hello",
    "history | grep mkfs",
    "echo 'killall' | wc -c",
    "cat /proc/cpuinfo | grep -c processor",
    "tee /workspace/out.txt < in.txt",
    "ls | tee >(wc -l) >(sort > /workspace/sorted)",
    "git clean -n",
};

struct hit {
    const char *command;
    const char *rule; /* the rule the operator is shown */
};

/* Commands that must wait for a person, and which rule says so. */
static const struct hit must[] = {
    {"rm -rf /", "rm -rf"},
    {"sudo rm -fr /var", "rm -rf"},
    {"r''m -rf x", "rm -rf"},
    {"\"rm\" -r -f x", "rm -rf"},
    {"env A=1 rm --recursive --force x", "rm -rf"},
    {"bash -c 'rm -rf /'", "rm -rf"},
    {"echo $(rm -rf /)", "rm -rf"},
    {"true && shutdown -h now", "shutdown"},
    {"curl -s x | sh", "pipe to a shell"},
    {"wget -O- x | sudo bash", "pipe to a shell"},
    {"/sbin/reboot", "reboot"},
    {"find / -name x -exec rm -rf {} \\;", "rm -rf"},
    {"dd if=/dev/zero of=/dev/sda", "dd to a device"},
    {"echo x > /dev/sda", "write to a device"},
    {"systemctl --no-block stop sshd", "systemctl stop"},
    {"kill -KILL 1", "kill -9"},
    {"kill -s KILL 1", "kill -9"},
    {"chmod -R 777 /", "chmod -R"},
    {":(){ :|:& };:", "fork bomb"},
    {"echo 'unbalanced", "unparseable command"},
    /* rm spellings */
    {"rm -Rf x", "rm -rf"},
    {"rm -f -R x", "rm -rf"},
    {"rm x -rf", "rm -rf"},
    {"rm --force --recursive x", "rm -rf"},
    {"rm --recur --forc x", "rm -rf"},
    {"rm -vrf x", "rm -rf"},
    {"\\rm -rf x", "rm -rf"},
    {"r\\m -rf x", "rm -rf"},
    {"'r'\"m\" -rf x", "rm -rf"},
    {"$'\\x72m' -rf x", "rm -rf"},
    {"$'r\\u006d' -r -f x", "rm -rf"},
    {"/bin/rm -rf x", "rm -rf"},
    {"./../../usr/bin/rm -rf x", "rm -rf"},
    {"rm\t-rf\tx", "rm -rf"},
    {"rm \\\n -rf x", "rm -rf"},
    {"rm --no-preserve-root -r /", "rm --no-preserve-root"},
    {"rm -r /", "rm -r /"},
    {"rm -r //./", "rm -r /"},
    {"rm -r /*", "rm -r /"},
    /* wrappers */
    {"sudo -u root -- rm -rf /srv", "rm -rf"},
    {"sudo -iu root rm -rf /srv", "rm -rf"},
    {"sudo --user=root rm -rf /srv", "rm -rf"},
    {"doas rm -rf /srv", "rm -rf"},
    {"pkexec --user root reboot", "reboot"},
    {"env -i PATH=/bin rm -rf x", "rm -rf"},
    {"env -u HOME rm -rf x", "rm -rf"},
    {"env - PATH=/bin rm -rf x", "rm -rf"},
    {"env -S 'rm -rf' x", "rm -rf"},
    {"nohup rm -rf x &", "rm -rf"},
    {"nice -n 19 rm -rf x", "rm -rf"},
    {"nice -5 reboot", "reboot"},
    {"ionice -c3 rm -rf x", "rm -rf"},
    {"ionice -c 2 -n 7 rm -rf x", "rm -rf"},
    {"timeout 10 rm -rf x", "rm -rf"},
    {"timeout -s KILL 10s rm -rf x", "rm -rf"},
    {"timeout --signal=TERM 5 reboot", "reboot"},
    {"exec reboot", "reboot"},
    {"exec -a name rm -rf x", "rm -rf"},
    {"command rm -rf x", "rm -rf"},
    {"builtin kill -9 1", "kill -9"},
    {"time rm -rf x", "rm -rf"},
    {"time -p rm -rf x", "rm -rf"},
    {"stdbuf -o L rm -rf x", "rm -rf"},
    {"setsid -f reboot", "reboot"},
    {"ls | xargs rm -rf", "rm -rf"},
    {"find . | xargs -0 -n 1 -I {} rm -rf {}", "rm -rf"},
    {"busybox rm -rf x", "rm -rf"},
    {"busybox reboot", "reboot"},
    {"chroot /mnt rm -rf /srv", "rm -rf"},
    {"taskset -c 0 reboot", "reboot"},
    {"flock /tmp/lock rm -rf x", "rm -rf"},
    {"flock /tmp/lock -c 'rm -rf x'", "rm -rf"},
    {"su -c 'rm -rf /' root", "rm -rf"},
    {"su - root -c reboot", "reboot"},
    {"watch -n 5 reboot", "reboot"},
    {"ssh host sudo reboot", "reboot"},
    {"ssh -p 2222 host 'rm -rf /srv'", "rm -rf"},
    {"sudo sudo nice timeout 5 env A=b /usr/bin/rm -rf x", "rm -rf"},
    {"A=1 B=2 rm -rf x", "rm -rf"},
    /* nesting */
    {"sh -c 'rm -rf /'", "rm -rf"},
    {"bash -xc 'reboot'", "reboot"},
    {"dash -c \"shutdown now\"", "shutdown"},
    {"zsh -o pipefail -c 'halt'", "halt"},
    {"sh -c \"sh -c 'sh -c reboot'\"", "reboot"},
    {"eval rm -rf /", "rm -rf"},
    {"eval 'rm -rf /'", "rm -rf"},
    {"eval \"echo x; reboot\"", "reboot"},
    {"echo `rm -rf /`", "rm -rf"},
    {"echo \"$(reboot)\"", "reboot"},
    {"echo ${x:-$(reboot)}", "reboot"},
    {"echo $((1 + $(reboot)))", "reboot"},
    {"cat <(reboot)", "reboot"},
    {"diff <(ls) >(shutdown)", "shutdown"},
    {"(reboot)", "reboot"},
    {"{ reboot; }", "reboot"},
    {"( (cd / && rm -rf srv) )", "rm -rf"},
    {"if true; then reboot; fi", "reboot"},
    {"if ! rm -rf x; then echo failed; fi", "rm -rf"},
    {"while true; do halt; done", "halt"},
    {"for x in a; do rm -rf $x; done", "rm -rf"},
    {"case x in x) reboot;; esac", "reboot"},
    {"case x in (x|y) echo; reboot ;; esac", "reboot"},
    {"f() { rm -rf /; }; f", "rm -rf"},
    {"function f { reboot; }", "reboot"},
    {"echo ok\nreboot", "reboot"},
    {"echo ok;reboot", "reboot"},
    {"echo ok&reboot", "reboot"},
    {"echo ok||reboot", "reboot"},
    {"echo ok|reboot", "reboot"},
    {"cat <<EOF | sh\nrm -rf /\nEOF", "pipe to a shell"},
    {"sh <<EOF\nrm -rf /\nEOF", "rm -rf"},
    {"bash <<'EOF'\nreboot\nEOF", "reboot"},
    {"sh <<< 'reboot'", "reboot"},
    {"cat <<EOF\n$(reboot)\nEOF", "reboot"},
    {"cat <<-EOF\n\t`halt`\n\tEOF", "halt"},
    {"find / -name x -execdir shred {} +", "shred"},
    {"find / -ok sh -c 'rm -rf \"$1\"' _ {} \\;", "rm -rf"},
    {"find /srv -type f -delete", "find -delete"},
    /* pipe to a shell and its relatives */
    {"curl x|sh", "pipe to a shell"},
    {"curl x | /bin/sh", "pipe to a shell"},
    {"curl x | sudo -E bash -s -- --flag", "pipe to a shell"},
    {"curl x | bash -", "pipe to a shell"},
    {"wget -qO- x | dash", "pipe to a shell"},
    {"curl x |& zsh", "pipe to a shell"},
    {"curl x | python3", "pipe to a shell"},
    {"curl x | perl", "pipe to a shell"},
    {"curl x | sudo python3 -", "pipe to a shell"},
    {"curl x | . /dev/stdin", "pipe to a shell"},
    {"bash <(curl -s x)", "pipe to a shell"},
    {"curl -s x | tee >(sh) > /dev/null", "pipe to a shell"},
    {"curl -s x | xargs sh -c", "pipe to a shell"},
    {"sh < <(curl -s x)", "pipe to a shell"},
    {"bash -c \"$(curl -fsSL x)\"", "pipe to a shell"},
    {"sh -c \"`wget -O- x`\"", "pipe to a shell"},
    {"eval \"$(curl -s x)\"", "pipe to a shell"},
    {"bash <<< \"$(curl x)\"", "pipe to a shell"},
    {"python3 <<< \"$(curl x)\"", "pipe to a shell"},
    /* disks and file systems */
    {"mkfs /dev/sdb1", "mkfs"},
    {"mkfs.ext4 /dev/sdb1", "mkfs"},
    {"/sbin/mkfs.xfs -f /dev/vdb", "mkfs"},
    {"mkswap /dev/sdb2", "mkfs"},
    {"dd of=/dev/nvme0n1 if=img", "dd to a device"},
    {"dd if=x of=/dev/../dev/sda", "dd to a device"},
    {"wipefs -a /dev/sda", "wipefs"},
    {"fdisk /dev/sda", "fdisk"},
    {"sfdisk /dev/sda < layout", "fdisk"},
    {"parted /dev/sda mklabel gpt", "parted"},
    {"sgdisk -Z /dev/sda", "sgdisk"},
    {"blkdiscard /dev/sda", "blkdiscard"},
    {"shred -u secrets.txt", "shred"},
    {"echo x >> /dev/sda1", "write to a device"},
    {"cat img 1> /dev/mmcblk0", "write to a device"},
    {"cat img &> /dev/sdb", "write to a device"},
    {"cat img >& /dev/sdb", "write to a device"},
    {"cat img >| /dev/sdb", "write to a device"},
    {"exec 3<> /dev/sda", "write to a device"},
    {"exec > /dev/sda", "write to a device"},
    {"{ echo x; } > /dev/sda", "write to a device"},
    {"(echo x) > //dev/./sda", "write to a device"},
    {"echo x > /dev/mem", "write to a device"},
    {"echo x | sudo tee /dev/sda", "tee to a device"},
    /* services, users, permissions, firewall */
    {"systemctl stop sshd", "systemctl stop"},
    {"systemctl disable --now nginx", "systemctl disable"},
    {"systemctl mask sshd", "systemctl mask"},
    {"systemctl -q stop sshd", "systemctl stop"},
    {"systemctl --type service stop sshd", "systemctl stop"},
    {"systemctl -H host stop sshd", "systemctl stop"},
    {"systemctl reboot", "systemctl reboot"},
    {"systemctl isolate rescue.target", "systemctl isolate"},
    {"service nginx stop", "service stop"},
    {"userdel -r bob", "userdel"},
    {"deluser bob", "userdel"},
    {"groupdel staff", "groupdel"},
    {"passwd root", "passwd"},
    {"echo 'root:x' | chpasswd", "passwd"},
    {"chown -R nobody /srv", "chown -R"},
    {"chown --recursive nobody /srv", "chown -R"},
    {"chgrp -R staff /srv", "chown -R"},
    {"chmod -R 755 /srv", "chmod -R"},
    {"chmod 777 /srv", "chmod 777"},
    {"chmod 0666 /etc/passwd", "chmod 777"},
    {"chmod a+rwx /srv", "chmod 777"},
    {"chmod o+w /etc/hosts", "chmod 777"},
    {"chmod u+x,o=rwx f", "chmod 777"},
    {"iptables -F", "iptables -F"},
    {"iptables -t nat --flush", "iptables -F"},
    {"ip6tables -F INPUT", "iptables -F"},
    {"nft flush ruleset", "nft flush"},
    {"nft 'flush ruleset'", "nft flush"},
    /* power */
    {"reboot", "reboot"},
    {"shutdown -r +5", "shutdown"},
    {"poweroff", "poweroff"},
    {"halt -p", "halt"},
    {"init 0", "init 0"},
    {"telinit 6", "init 6"},
    /* processes */
    {"kill -9 1234", "kill -9"},
    {"kill -SIGKILL 1", "kill -9"},
    {"kill -sKILL 1", "kill -9"},
    {"kill -s 9 1", "kill -9"},
    {"kill -n 9 1", "kill -9"},
    {"kill --signal KILL 1", "kill -9"},
    {"kill --signal=kill 1", "kill -9"},
    {"kill -9 -1", "kill -9"},
    {"pkill nginx", "pkill"},
    {"killall -9 nginx", "killall"},
    {"killall5 -9", "killall"},
    {"crontab -r", "crontab -r"},
    {"mv /* /tmp/x", "mv /"},
    {"mv / /tmp/x", "mv /"},
    {"mv -t /tmp/x /*", "mv /"},
    {"nixos-rebuild switch", "nixos-rebuild"},
    {"nix-collect-garbage -d", "nix-collect-garbage"},
    {"bomb() { bomb | bomb & }; bomb", "fork bomb"},
    {"f(){ f & f; }; f", "fork bomb"},
    /* what cannot be analysed fails closed */
    {"echo \"unbalanced", "unparseable command"},
    {"echo $(ls", "unparseable command"},
    {"echo `ls", "unparseable command"},
    {"echo ${x", "unparseable command"},
    {"(ls", "unparseable command"},
    {"ls )", "unparseable command"},
    {"{ ls; ", "unparseable command"},
    {"ls |", "unparseable command"},
    {"ls && ", "unparseable command"},
    {"| ls", "unparseable command"},
    {"; ls", "unparseable command"},
    {"ls ; ; ls", "unparseable command"},
    {"ls >", "unparseable command"},
    {"ls > ;", "unparseable command"},
    {"echo $'x", "unparseable command"},
    {"case x in", "unparseable command"},
    {"sh -c 'echo \"'", "unparseable command"},
    {"eval 'echo \"'", "unparseable command"},
    {"f() ls", "unparseable command"},
    {"a=(1 2", "unparseable command"},
};

Test(destructive, ordinary_commands_do_not_escalate)
{
    for (size_t i = 0; i < sizeof(must_not) / sizeof(must_not[0]); i++) {
        const char *rule = NULL;
        cr_expect_not(osm_policy_destructive(must_not[i], &rule), "escalated: [%s] by %s",
                      must_not[i], rule ? rule : "?");
    }
}

Test(destructive, destructive_commands_escalate_with_their_rule)
{
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
        const char *rule = NULL;
        bool hit = osm_policy_destructive(must[i].command, &rule);
        cr_expect(hit, "not escalated: [%s]", must[i].command);
        if (hit)
            cr_expect_str_eq(rule, must[i].rule, "[%s]", must[i].command);
    }
}

Test(destructive, limits_fail_closed)
{
    size_t n = OSM_SHELLCMD_LEN_MAX + 1;
    char *big = malloc(n + 1), *deep = malloc(4 * OSM_SHELLCMD_DEPTH_MAX + 8), *p = deep;
    const char *rule = NULL;

    cr_assert_not_null(big);
    cr_assert_not_null(deep);
    memset(big, 'a', n);
    big[n] = '\0';
    cr_expect(osm_policy_destructive(big, &rule));
    cr_expect_str_eq(rule, "command too large to analyse");
    /* just under the limit: analysed, and harmless */
    big[OSM_SHELLCMD_LEN_MAX] = '\0';
    cr_expect_not(osm_policy_destructive(big, NULL));
    /* too many words */
    for (size_t i = 0; i < OSM_SHELLCMD_LEN_MAX; i += 2)
        big[i] = 'a', big[i + 1] = ' ';
    cr_expect(osm_policy_destructive(big, &rule));
    cr_expect_str_eq(rule, "command too large to analyse");
    /* too deep: ( ( ( ... ) ) ) */
    for (int i = 0; i <= OSM_SHELLCMD_DEPTH_MAX; i++)
        *p++ = '(';
    *p++ = 'l', *p++ = 's';
    for (int i = 0; i <= OSM_SHELLCMD_DEPTH_MAX; i++)
        *p++ = ')';
    *p = '\0';
    cr_expect(osm_policy_destructive(deep, &rule), "%s", deep);
    cr_expect_str_eq(rule, "command nested too deeply");
    /* one level less is fine */
    memmove(deep, deep + 1, strlen(deep));
    deep[strlen(deep) - 1] = '\0';
    cr_expect_not(osm_policy_destructive(deep, NULL), "%s", deep);
    free(big);
    free(deep);
}

Test(destructive, nesting_through_strings_is_bounded)
{
    char line[16 * (OSM_SHELLCMD_DEPTH_MAX + 2)] = "";
    const char *rule = NULL;

    /* eval eval ... reboot: each eval is one level deeper */
    for (int i = 0; i < OSM_SHELLCMD_DEPTH_MAX; i++)
        strcat(line, "eval ");
    strcat(line, "reboot");
    cr_expect(osm_policy_destructive(line, &rule));
    cr_expect_str_eq(rule, "reboot", "still seen %d levels down", OSM_SHELLCMD_DEPTH_MAX);
    memcpy(line, "eval ", 5);
    cr_expect(osm_policy_destructive(line + 5, &rule));
    strcpy(line + strlen(line) - strlen("reboot"), "eval ls");
    cr_expect(osm_policy_destructive(line, &rule), "%s", line);
    cr_expect_str_eq(rule, "command nested too deeply");
    cr_expect_not(osm_policy_destructive(line + 5, NULL), "one level less is analysed");
    cr_expect(osm_policy_destructive("sh -c 'sh -c \"sh -c reboot\"'", NULL));
    cr_expect_not(osm_policy_destructive("sh -c 'sh -c \"sh -c ls\"'", NULL));
}

Test(destructive, null_command)
{
    const char *rule = "unchanged";

    cr_expect_not(osm_policy_destructive(NULL, &rule));
    cr_expect_str_eq(rule, "unchanged");
    cr_expect_not(osm_policy_destructive("ls", &rule));
    cr_expect_str_eq(rule, "unchanged", "ret_pattern is set only on a match");
}

/* ---- what the walk sees ----------------------------------------------------------------- */

/* Each visited command as one line: "d<depth> <flags> argv... [fd op target]...". */
struct seen {
    char text[4096];
    int stop_at; /* stop with 7 at this visit (1-based), 0: never */
    int visits;
};

static int record(const struct osm_shellcmd *c, void *userdata)
{
    struct seen *s = userdata;
    size_t n = strlen(s->text);
    static const char *const ops[] = {"<", ">", ">>", "<>", "<&", ">&", "<<", "<<<"};

    n += snprintf(s->text + n, sizeof(s->text) - n, "%sd%u %s%s%s%s%s%s", n ? "\n" : "", c->depth,
                  c->flags & OSM_SHELLCMD_PIPE_IN ? "i" : "-",
                  c->flags & OSM_SHELLCMD_PIPED ? "p" : "-",
                  c->flags & OSM_SHELLCMD_BACKGROUND ? "b" : "-",
                  c->flags & OSM_SHELLCMD_CODE_FROM_COMMAND ? "c" : "-", c->function ? " fn=" : "",
                  c->function ? c->function : "");
    for (size_t i = 0; i < c->argc; i++)
        n += snprintf(s->text + n, sizeof(s->text) - n, " %s", c->argv[i]);
    cr_assert_null(c->argv[c->argc], "argv is NULL-terminated");
    for (size_t i = 0; i < c->n_redirs; i++)
        n += snprintf(s->text + n, sizeof(s->text) - n, " [%d%s%s]", c->redirs[i].fd,
                      ops[c->redirs[i].op], c->redirs[i].target);
    return ++s->visits == s->stop_at ? 7 : 0;
}

static void expect_walk(const char *line, const char *expected)
{
    struct seen s = {0};
    int r = osm_shellcmd_walk(line, record, &s);

    cr_expect_eq(r, 0, "[%s]: %d", line, r);
    cr_expect_str_eq(s.text, expected, "[%s]", line);
}

Test(shellcmd, words_and_quote_removal)
{
    expect_walk("echo 'a b' \"c $HOME d\" e\\ f $'g\\th' \"\"",
                "d0 ---- echo a b c $HOME d e f g\th ");
    expect_walk("echo a\\\nb", "d0 ---- echo ab");
    expect_walk("echo \"a\\\"b\\\\c\\$d\\x\"", "d0 ---- echo a\"b\\c$d\\x");
    expect_walk("echo '\\n' x#y # comment", "d0 ---- echo \\n x#y");
    expect_walk("A=1 B+=2 env", "d0 ---- env");
    expect_walk("A=1", "d0 ----");
    expect_walk("\"A=1\" x", "d0 ---- A=1 x");
}

Test(shellcmd, pipelines_lists_and_background)
{
    expect_walk("a | b |& c", "d0 -p-- a\nd0 ip-- b\nd0 ip-- c");
    expect_walk("a && b & c", "d0 --b- a\nd0 --b- b\nd0 ---- c");
    expect_walk("a\n\nb;c", "d0 ---- a\nd0 ---- b\nd0 ---- c");
    expect_walk("a |\n b", "d0 -p-- a\nd0 ip-- b");
    expect_walk("! a || b", "d0 ---- a\nd0 ---- b");
}

Test(shellcmd, redirections)
{
    expect_walk("a > f 2>&1 < in >> g 3<> h &> i &>> j 2>&- <<< s",
                "d0 ---- a [1>f] [2>&1] [0<in] [1>>g] [3<>h] [-1>i] [-1>>j] [2>&-] [0<<<s]");
    expect_walk("a >& f", "d0 ---- a [-1>f]");
    expect_walk("a 2>/dev/null", "d0 ---- a [2>/dev/null]");
    expect_walk("a <<E\nbody $x\nE\nb", "d0 ---- a [0<<body $x\n]\nd0 ---- b");
    expect_walk("a <<-'E'\n\tbody\n\tE", "d0 ---- a [0<<\tbody\n]");
    expect_walk("a <<E; b\nx\nE", "d0 ---- a [0<<x\n]\nd0 ---- b");
    expect_walk("a <<E <<F\n1\nE\n2\nF", "d0 ---- a [0<<1\n] [0<<2\n]");
    expect_walk("(a) > f", "d1 ---- a\nd0 ---- [1>f]");
}

Test(shellcmd, substitutions_are_commands)
{
    expect_walk("echo $(a | b) `c` <(d) \"$(e)\"",
                "d1 -p-- a\nd1 ip-- b\nd1 ---- c\nd1 ---- d\nd1 ---- e\n"
                "d0 ---- echo $(a | b) `c` <(d) $(e)");
    expect_walk("echo `echo \\`a\\``", "d2 ---- a\nd1 ---- echo `a`\nd0 ---- echo `echo \\`a\\``");
    expect_walk("x=$(a) y", "d1 ---- a\nd0 ---- y");
}

Test(shellcmd, wrappers_and_nested_lines)
{
    expect_walk("sudo -u root nice -n 3 /usr/bin/env -i X=1 ls -l", "d0 ---- ls -l");
    expect_walk("command -v ls", "d0 ---- command -v ls");
    expect_walk("bash -c 'a; b' x", "d0 ---- bash -c a; b x\nd1 ---- a\nd1 ---- b");
    expect_walk("eval 'a' b", "d0 ---- eval a b\nd1 ---- a b");
    expect_walk("find . -exec a {} \\; -execdir b {} +",
                "d0 ---- find . -exec a {} ; -execdir b {} +\nd1 ---- a {}\nd1 ---- b {}");
    expect_walk("x | sh", "d0 -p-- x\nd0 ip-c sh");
    expect_walk("x | sh -c y", "d0 -p-- x\nd0 ip-- sh -c y\nd1 ip-- y");
    expect_walk("f() { a | f; }", "d2 -p-- fn=f a\nd2 ip-- fn=f f");
    expect_walk("sudo", "d0 ---- sudo");
    expect_walk("timeout 5", "d0 ---- timeout 5");
}

Test(shellcmd, walk_stops_at_positive_and_reports_errors)
{
    struct seen s = {.stop_at = 2};

    cr_expect_eq(osm_shellcmd_walk("a; b; c", record, &s), 7);
    cr_expect_eq(s.visits, 2);
    s = (struct seen){0};
    cr_expect_eq(osm_shellcmd_walk("a; 'b", record, &s), -EINVAL);
    cr_expect_eq(s.visits, 0, "nothing is visited before the whole line parsed");
    s = (struct seen){0};
    cr_expect_eq(osm_shellcmd_walk("a; sh -c 'b \"'", record, &s), -EINVAL);
    cr_expect_eq(osm_shellcmd_walk("a <<E <<E <<E <<E <<E <<E <<E <<E <<E <<E <<E <<E <<E <<E "
                                   "<<E <<E <<E\nE",
                                   record, &s),
                 -E2BIG);
}

static int check_options(const struct osm_shellcmd *c, void *userdata)
{
    const char *const lv[] = {"file", NULL};

    cr_expect(osm_shellcmd_has_option(c, 'r', NULL));
    cr_expect(osm_shellcmd_has_option(c, 'x', NULL), "in a cluster");
    cr_expect(osm_shellcmd_has_option(c, '\0', "force"));
    cr_expect(osm_shellcmd_has_option(c, '\0', "verbose"), "abbreviated --verb");
    cr_expect_not(osm_shellcmd_has_option(c, 'z', "zap"), "after --");
    cr_expect_not(osm_shellcmd_has_option(c, 'q', "quiet"));
    cr_expect_str_eq(osm_shellcmd_operand(c, 0, "f", lv), "op1");
    cr_expect_str_eq(osm_shellcmd_operand(c, 1, "f", lv), "op2");
    cr_expect_str_eq(osm_shellcmd_operand(c, 2, "f", lv), "-z");
    cr_expect_str_eq(osm_shellcmd_operand(c, 3, "f", lv), "--zap");
    cr_expect_null(osm_shellcmd_operand(c, 4, "f", lv));
    cr_expect_str_eq(osm_shellcmd_operand(c, 0, NULL, NULL), "val", "without -f's value");
    return 0;
}

Test(shellcmd, options_and_operands)
{
    cr_expect_eq(osm_shellcmd_walk("cmd -r -xf val op1 --force --verb --file F op2 -- -z --zap",
                                   check_options, NULL),
                 0);
}
