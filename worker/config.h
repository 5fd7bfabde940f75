/* worker/config.h: the run configuration of birdied: an INI file (libinih) plus --section.key=value
 * overrides. Every key is declared once in a table (config.c) with its type, default, range and help
 * text; that table drives parsing, validation and `birdied --help`. Unknown keys and bad values are
 * errors that name the key. This file knows nothing about what the keys do. */
#ifndef BIRDIE_CONFIG_H
#define BIRDIE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct birdie_config {
    /* [run] */
    char name[64];
    uint64_t seed;
    long steps;
    long stop_after; /* 0 = never: stop (like an operator) after this step */
    double collective_deadline_s; /* a collective gives up after this long: a peer is lost */
    double collective_floor_s, deadline_factor; /* the deadline from step times (birdie_collective_deadline) */
    char backend[8]; /* cpu | cuda | auto */
    /* [model] */
    char size[8];
    char family[16]; /* gated_ssm | hawk | transformer */
    int bidirectional;
    int d_model, d_state, n_layers; /* 0 = from the size */
    /* [train] */
    int batch; /* rows per step, global */
    int seq_len; /* positions per row; 0 = from the size */
    double lr, warmup_frac, min_lr_frac, weight_decay, grad_clip;
    double bucket_mb; /* gradient all-reduce bucket (MiB); 0 = one all-reduce after the backward pass */
    char precision[8]; /* auto | fp32 | bf16: the GEMM inputs (worker/precision.h) */
    long eval_every;
    int eval_rows;
    long log_every;
    /* [objectives] */
    char arms[4096]; /* "default" or arm specs separated by ';' */
    char mixture[4096]; /* ntp | ul2 | uniform | birdie | name=w,... */
    int paradigm;
    int val_rows_per_arm;
    /* [scheduler] (mixture = birdie) */
    long warmup_steps; /* 0 = total/30 (docs/algorithm.md §3.2) */
    long apply_lag; /* steps between an evaluation and its decision's first step, beyond the next */
    int fit_iters, candidates, top_k, rm_hidden, rm_layers;
    /* [checkpoint] */
    long ckpt_every;
    char ckpt_dir[1024];
    int ckpt_keep;
    char resume[8]; /* none | auto */
    /* [daemon] */
    char listen[256]; /* coordinator address on rank 0; "" = no coordinator */
    char metrics[256]; /* Prometheus endpoint on rank 0 (GET /metrics); "" = none */
    char db[1024]; /* SQLite store of the coordinator */
    char token_file[1024];
    int auth_all;
    double eval_deadline_s, decision_timeout_s;
    double stall_after_s; /* a rank's heartbeat this late (or 5 step times) flags it as stalled */
    /* [data] */
    char source[16]; /* synthetic | shards */
    char train_files[1024];
    char val_files[1024];
} birdie_config;

void birdie_config_defaults(birdie_config *cfg);
/* Parses an INI file into cfg (on top of what it holds). Returns 0 or a negative errno; err names
 * the file, line and key. */
int birdie_config_load_file(birdie_config *cfg, const char *path, char *err, size_t errlen);
/* Applies one "section.key=value" override (without the leading "--"). */
int birdie_config_set(birdie_config *cfg, const char *assignment, char *err, size_t errlen);
/* Checks relations between keys (e.g. shards need train files). */
int birdie_config_validate(const birdie_config *cfg, char *err, size_t errlen);
/* Documents every key: section, name, type, default, range and what it does. */
void birdie_config_print_help(FILE *out);
/* Writes the effective configuration as INI (for logs and reproducibility). */
void birdie_config_print(const birdie_config *cfg, FILE *out);

#endif
