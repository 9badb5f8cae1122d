#ifndef RINGTRAIL_CRDKAFKA_SHIM_H
#define RINGTRAIL_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>

/* Swift cannot call the variadic rd_kafka_producev nor import RD_KAFKA_PARTITION_UA (a macro with a cast),
   so this helper produces one copied message to the partitioner's choice. */
static inline rd_kafka_resp_err_t rt_kafka_produce(rd_kafka_t *rk, const char *topic,
                                                   const void *key, size_t key_len,
                                                   const void *value, size_t value_len,
                                                   void *opaque) {
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY((void *)key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

static inline int32_t rt_kafka_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }
#endif
