/* err.h — the one error type of the broker's layers: an AMQP reply code and
 * RabbitMQ's reply text. The model fills it (a declare that is refused, a
 * publish to a missing exchange), the protocol sends it (channel.close or
 * connection.close; a hard code closes the connection), the admin layer turns
 * it into a control-socket or HTTP error. The text is cut to what a reply can
 * carry when it is sent (amq_reply_text_fit). */
#ifndef WARREN_ERR_H
#define WARREN_ERR_H

typedef struct werr {
    int code; /* an AMQP reply code (AMQ_NOT_FOUND, ...); 0 = no error */
    char text[320];
} werr;

/* Set e's code and text (printf-style); returns code, so a handler can
 * `return werr_set(e, AMQ_NOT_FOUND, "NOT_FOUND - ...")`. */
int werr_set(werr *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
