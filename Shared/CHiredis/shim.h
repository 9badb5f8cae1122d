#ifndef RINGTRAIL_CHIREDIS_SHIM_H
#define RINGTRAIL_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
