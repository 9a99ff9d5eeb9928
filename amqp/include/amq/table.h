/* amq/table.h — AMQP 0-9-1 field tables and arrays, RabbitMQ's type set:
 * t b B s u I i l f d D S x A T F V ('l' is signed 64, 's' signed 16, 'u'
 * unsigned 16). Also accepted: 'L', read as signed 64 into v.i64 exactly like
 * 'l' (RabbitMQ 3.10 accepts it so; rabbitmq-c writes u64 with it). 'U' and
 * any other tag are rejected (AMQ_EBAD), as RabbitMQ does.
 * Tables are kept as their encoded bytes (without the 4-byte length) and
 * read in place: nothing is allocated to look a key up. */
#ifndef AMQ_TABLE_H
#define AMQ_TABLE_H
#include "amq/buf.h"

#define AMQ_TABLE_MAX_DEPTH 16

typedef struct {
    char type; /* the type tag octet */
    union {
        bool b;        /* t */
        int8_t i8;     /* b */
        uint8_t u8;    /* B */
        int16_t i16;   /* s */
        uint16_t u16;  /* u */
        int32_t i32;   /* I */
        uint32_t u32;  /* i */
        int64_t i64;   /* l, L */
        float f32;     /* f */
        double f64;    /* d */
        struct { uint8_t scale; uint32_t value; } dec; /* D */
        amq_bytes str; /* S, x: the bytes; F, A: the encoded table/array body */
        uint64_t ts;   /* T */
    } v;
} amq_field;

/* Validate an encoded table body (no length prefix): every entry well formed,
 * nested tables/arrays to AMQ_TABLE_MAX_DEPTH. Returns AMQ_OK or an error. */
int amq_table_validate(amq_bytes table);
int amq_array_validate(amq_bytes array);

/* Iterate a table: init a reader over the body, then call next until it
 * returns 0 (end) or < 0 (error). Returns 1 when an entry was produced. */
int amq_table_next(amq_rd *r, amq_bytes *key, amq_field *val);
/* Iterate an array the same way (values only). */
int amq_array_next(amq_rd *r, amq_field *val);
/* Look a key up; returns 1 found, 0 absent, <0 malformed. */
int amq_table_get(amq_bytes table, const char *key, amq_field *val);
/* Number of entries, or <0 if malformed. */
int amq_table_count(amq_bytes table);
/* Semantic equality of two tables: same number of entries, and every key's
 * first entry (the one amq_table_get sees) has the same type and value in
 * both, in any order; F/A compare deeply (arrays in order), floats bitwise.
 * False if either is malformed or nested deeper than AMQ_TABLE_MAX_DEPTH. */
bool amq_table_equal(amq_bytes a, amq_bytes b);

/* Read one field value (type octet + value) / write one. */
int amq_get_field(amq_rd *r, amq_field *val, int depth);
void amq_put_field(amq_wr *w, const amq_field *val);

/* Building a table: begin returns the offset of its length prefix; put
 * key/value pairs; end patches the length. Nested tables work the same. */
size_t amq_table_begin(amq_wr *w);
void amq_table_put(amq_wr *w, const char *key, const amq_field *val);
void amq_table_put_key(amq_wr *w, const char *key); /* then put a field */
void amq_table_end(amq_wr *w, size_t begin);
/* Convenience field constructors. */
amq_field amq_field_str(amq_bytes s);     /* S */
amq_field amq_field_bool(bool b);         /* t */
amq_field amq_field_i64(int64_t v);       /* l */
amq_field amq_field_i32(int32_t v);       /* I */
amq_field amq_field_table(amq_bytes enc); /* F, enc = body without length */
amq_field amq_field_array(amq_bytes enc); /* A */
amq_field amq_field_ts(uint64_t t);       /* T */

/* Integer value of any integer-typed field (b B s u I i l L T); 1 ok, 0 not
 * integer (or a T above INT64_MAX). */
int amq_field_as_i64(const amq_field *f, int64_t *out);
#endif
