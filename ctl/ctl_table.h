/* ctl_table: the human (default, `-o table`) form of birdiectl's replies. Column layouts here are
 * for people; scripts should use `-o json`, whose schema is the .proto's. */
#ifndef BIRDIE_CTL_TABLE_H
#define BIRDIE_CTL_TABLE_H

#include "birdie/v1/birdie.pb-c.h"

void ctl_table_status(const Birdie__V1__GetStatusResponse *s);
void ctl_table_set_mixture(const Birdie__V1__SetMixtureResponse *r);
void ctl_table_history(const Birdie__V1__GetHistoryResponse *h);
void ctl_table_event(const Birdie__V1__Event *e);
void ctl_table_checkpoint(const Birdie__V1__CheckpointResponse *r);
void ctl_table_control(const char *verb, const Birdie__V1__ControlResponse *r);

#endif
