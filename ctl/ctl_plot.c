/* ctl_plot: see ctl_plot.h. */
#define _GNU_SOURCE
#include "ctl/ctl_plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "worker/error.h"

extern char **environ;

/* Distinct colours that stay readable on white and for the common colour-vision deficiencies
 * (Okabe-Ito), then a few more for runs with more classes. */
static const char *const class_colors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                           "#56B4E9", "#000000", "#999933", "#882255", "#44AA99"};
#define N_COLORS (sizeof(class_colors) / sizeof(class_colors[0]))

static const struct {
    const char *title, *color;
    int point_type;
} mark_style[CTL_MARK_COUNT] = {
    [CTL_MARK_EXPLOIT] = {"exploit", "#0072B2", 7}, /* filled circle */
    [CTL_MARK_EXPLORE] = {"explore", "#D55E00", 9}, /* filled triangle */
    [CTL_MARK_OPERATOR] = {"operator", "#000000", 5}, /* filled square */
    [CTL_MARK_WARMUP] = {"warm-up", "#999999", 1}, /* plus */
};

static int write_series(const char *dir, const char *name, const ctl_series *s, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return birdie_fail(err, errlen, -EIO, "%s: %s", path, strerror(errno));
    for (size_t i = 0; i < s->n; i++) {
        fprintf(f, "%.17g", s->x[i]);
        for (size_t c = 0; c < s->width; c++) {
            double v = s->y[i * s->width + c];
            if (isnan(v))
                fprintf(f, " NaN");
            else
                fprintf(f, " %.17g", v);
        }
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return birdie_fail(err, errlen, -EIO, "%s: write failed", path);
    return 0;
}

/* A title gnuplot prints as written (noenhanced) inside double quotes. */
static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        if (*s != '"' && *s != '\\')
            fputc(*s, f);
    fputc('"', f);
}

/* Any column of s with at least one number (gnuplot refuses a plot whose every series is empty). */
static int column_has_data(const ctl_series *s, size_t c)
{
    for (size_t i = 0; i < s->n; i++)
        if (!isnan(s->y[i * s->width + c]))
            return 1;
    return 0;
}

static int any_data(const ctl_series *s)
{
    for (size_t c = 0; c < s->width; c++)
        if (column_has_data(s, c))
            return 1;
    return s->width == 0 && s->n > 0;
}

/* One plot command per class column of `file` that has data; `sep` starts each after the first. */
static int plot_classes(FILE *f, const ctl_plot_data *d, const ctl_series *s, const char *file, const char *style,
                        int first)
{
    for (int c = 0; c < d->n_classes; c++) {
        if (!column_has_data(s, (size_t)c))
            continue;
        fprintf(f, "%s'%s' using 1:%d with %s lw 2 lc rgb '%s' title ", first ? "plot " : ", \\\n     ", file, c + 2,
                style, class_colors[c % N_COLORS]);
        quoted(f, d->classes[c]);
        first = 0;
    }
    return first;
}

static void begin(FILE *f, const char *term, const char *ext, const char *name, const char *title, const char *ylabel)
{
    fprintf(f, "set terminal %s\nset output '%s.%s'\n", term, name, ext);
    fprintf(f, "set title ");
    quoted(f, title);
    fprintf(f, "\nset xlabel 'training step'\nset ylabel ");
    quoted(f, ylabel);
    fprintf(f, "\nunset yrange\nset autoscale y\nset autoscale xfix\n");
}

/* The script for one terminal: the same four pictures, each only with the series that have data. */
static void write_pictures(FILE *f, const ctl_plot_data *d, const char *term, const char *ext, int *have)
{
    fprintf(f, "set grid lc rgb '#dddddd'\nset key outside right top vertical Left reverse noenhanced box samplen 2 "
               "spacing 1.1\nset border lw 1\n"
               "set format y '%%g'\n");
    if (have[0]) {
        begin(f, term, ext, "loss", "Training and validation loss", "loss (nats per token)");
        int first = 1;
        if (d->train.n) {
            fprintf(f, "plot 'train.dat' using 1:2 with lines lw 1 lc rgb '#56B4E9' title 'training (rank 0 batch)'");
            first = 0;
        }
        if (any_data(&d->val))
            fprintf(f,
                    "%s'val.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#D55E00' "
                    "title 'validation (all arms, token-weighted)'",
                    first ? "plot " : ", \\\n     ");
        fprintf(f, "\n");
    }
    if (have[1]) {
        begin(f, term, ext, "class_loss", "Validation loss per objective class", "loss (nats per token)");
        plot_classes(f, d, &d->class_loss, "class_loss.dat", "linespoints pt 7 ps 0.5", 1);
        fprintf(f, "\n");
    }
    if (have[2]) {
        begin(f, term, ext, "mixture", "Objective mixture per class and scheduler decisions",
              "share of the training mixture");
        /* the decisions sit in a strip below zero, one row per kind */
        fprintf(f, "set yrange [-0.16:*]\nset ytics 0, 0.1\n");
        int first = plot_classes(f, d, &d->mixture, "mixture.dat", "steps", 1);
        for (int k = 0; k < CTL_MARK_COUNT; k++) {
            if (!d->marks[k].n)
                continue;
            fprintf(f, "%s'marks_%d.dat' using 1:(%g) with points pt %d ps 1 lc rgb '%s' title 'decision: %s'",
                    first ? "plot " : ", \\\n     ", k, -0.03 - 0.035 * k, mark_style[k].point_type,
                    mark_style[k].color, mark_style[k].title);
            first = 0;
        }
        fprintf(f, "\nset ytics autofreq\n");
    }
    if (have[3]) {
        begin(f, term, ext, "rewards", "Rewards per objective class (docs/algorithm.md 3.3)",
              "reward (per arm in [-1, 1])");
        fprintf(f, "set xzeroaxis lt -1 lc rgb '#888888'\n");
        int first = plot_classes(f, d, &d->reward, "rewards.dat", "linespoints pt 7 ps 0.5", 1);
        if (any_data(&d->observed))
            fprintf(f,
                    "%s'observed.dat' using 1:2 with lines lw 3 dt 2 lc rgb '#000000' "
                    "title 'observed score (sum of the class means)'",
                    first ? "plot " : ", \\\n     ");
        fprintf(f, "\nunset xzeroaxis\n");
    }
    fprintf(f, "unset output\n");
}

static int run_gnuplot(const char *gnuplot, const char *dir, char *err, size_t errlen)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* gnuplot writes the pictures relative to its working folder: the output folder */
    int rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
    /* its warnings (an empty range of a one-point series, ...) go to a log, not into our output */
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 2, "gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 2, 1);
    pid_t pid;
    char *argv[] = {(char *)gnuplot, "plot.gp", NULL};
    if (rc == 0)
        rc = strchr(gnuplot, '/') ? posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ)
                                  : posix_spawnp(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return birdie_fail(err, errlen, -ENOENT,
                           "cannot start gnuplot '%s': %s (install it: apt-get install gnuplot-nox, or pass --gnuplot "
                           "PATH)",
                           gnuplot, strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return birdie_fail(err, errlen, -ECHILD, "waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return birdie_fail(err, errlen, -ENOENT, "gnuplot '%s' could not be run (exit status 127)", gnuplot);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return birdie_fail(err, errlen, -ECHILD, "gnuplot failed (%s %d); its messages are in %s/gnuplot.log",
                           WIFEXITED(status) ? "exit status" : "signal",
                           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), dir);
    return 0;
}

int ctl_plot_draw(const ctl_plot_data *d, const char *out_dir, const char *gnuplot, ctl_plot_files *files, char *err,
                  size_t errlen)
{
    files->n = 0;
    int have[4] = {d->train.n > 0 || any_data(&d->val), any_data(&d->class_loss), any_data(&d->mixture),
                   any_data(&d->reward) || any_data(&d->observed)};
    if (!have[0] && !have[1] && !have[2] && !have[3])
        return birdie_fail(err, errlen, -ENODATA, "the history holds no steps, evals, mixtures or rewards to draw");
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        return birdie_fail(err, errlen, -EIO, "%s: %s", out_dir, strerror(errno));
    struct {
        const char *name;
        const ctl_series *s;
    } data[] = {{"train.dat", &d->train},      {"val.dat", &d->val},          {"class_loss.dat", &d->class_loss},
                {"mixture.dat", &d->mixture},  {"rewards.dat", &d->reward},   {"observed.dat", &d->observed},
                {"marks_0.dat", &d->marks[0]}, {"marks_1.dat", &d->marks[1]}, {"marks_2.dat", &d->marks[2]},
                {"marks_3.dat", &d->marks[3]}};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        int rc = write_series(out_dir, data[i].name, data[i].s, err, errlen);
        if (rc)
            return rc;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/plot.gp", out_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return birdie_fail(err, errlen, -EIO, "%s: %s", path, strerror(errno));
    fprintf(f, "# written by birdiectl plot; run `gnuplot plot.gp` in this folder to redraw\n");
    write_pictures(f, d, "pngcairo size 1100,640 font 'DejaVu Sans,11' noenhanced", "png", have);
    write_pictures(f, d, "svg size 1100,640 font 'DejaVu Sans,11' noenhanced", "svg", have);
    if (fclose(f) != 0)
        return birdie_fail(err, errlen, -EIO, "%s: write failed", path);
    int rc = run_gnuplot(gnuplot, out_dir, err, errlen);
    if (rc)
        return rc;
    static const char *const names[4] = {"loss", "class_loss", "mixture", "rewards"};
    static const char *const exts[2] = {"png", "svg"};
    for (int p = 0; p < 4; p++)
        for (int e = 0; e < 2 && have[p]; e++) {
            snprintf(files->path[files->n], sizeof(files->path[0]), "%s/%s.%s", out_dir, names[p], exts[e]);
            struct stat st;
            if (stat(files->path[files->n], &st) != 0 || st.st_size == 0)
                return birdie_fail(err, errlen, -ECHILD, "gnuplot left %s missing or empty", files->path[files->n]);
            files->n++;
        }
    return 0;
}
