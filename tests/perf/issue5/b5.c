/* b5: benchmarks for issue 5 (TTL expiry, delayed exchange, priority queue), rabbitmq-c.
 *  b5 ttl   PORT N TTL_MS BROKER_PID [q|m]
 *  b5 delay PORT N MIN_MS MAX_MS PERSISTENT(0/1) BROKER_PID
 *  b5 prio  PORT SECONDS MAXPRIO(0=plain) [PREFETCH]                                     */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int port;
static int64_t wall_us(void){struct timespec t;clock_gettime(CLOCK_REALTIME,&t);return t.tv_sec*1000000LL+t.tv_nsec/1000;}
static double mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static void die(const char*w){fprintf(stderr,"fail: %s\n",w);exit(1);}
static void chk(amqp_rpc_reply_t r,const char*w){if(r.reply_type!=AMQP_RESPONSE_NORMAL){fprintf(stderr,"rpc fail %s type %d\n",w,r.reply_type);
  if(r.reply_type==AMQP_RESPONSE_SERVER_EXCEPTION&&r.reply.id==AMQP_CHANNEL_CLOSE_METHOD){amqp_channel_close_t*c=r.reply.decoded;fprintf(stderr,"%d %.*s\n",c->reply_code,(int)c->reply_text.len,(char*)c->reply_text.bytes);}
  exit(1);}}
static amqp_connection_state_t conn(void){amqp_connection_state_t c=amqp_new_connection();amqp_socket_t*s=amqp_tcp_socket_new(c);
  if(amqp_socket_open(s,"127.0.0.1",port))die("open");chk(amqp_login(c,"/",0,131072,0,AMQP_SASL_METHOD_PLAIN,"guest","guest"),"login");
  amqp_channel_open(c,1);chk(amqp_get_rpc_reply(c),"chopen");return c;}
static void proc(int pid,double*cpu,long*rss_kb){char p[64],b[4096];FILE*f;snprintf(p,64,"/proc/%d/stat",pid);f=fopen(p,"r");
  if(!f)die("stat");size_t n=fread(b,1,sizeof b-1,f);b[n]=0;fclose(f);char*q=strrchr(b,')')+2;unsigned long ut=0,st=0;int i=0;
  for(char*t=strtok(q," ");t;t=strtok(NULL," "),i++){if(i==11)ut=strtoul(t,0,10);if(i==12){st=strtoul(t,0,10);break;}}
  *cpu=(ut+st)/(double)sysconf(_SC_CLK_TCK);snprintf(p,64,"/proc/%d/status",pid);f=fopen(p,"r");*rss_kb=0;
  while(fgets(b,sizeof b,f))if(!strncmp(b,"VmRSS:",6))*rss_kb=atol(b+6);fclose(f);}
static uint32_t qcount(amqp_connection_state_t c,const char*q){amqp_queue_declare_ok_t*r=amqp_queue_declare(c,1,amqp_cstring_bytes(q),1,0,0,0,amqp_empty_table);
  chk(amqp_get_rpc_reply(c),"passive");return r->message_count;}

/* ---------------- TTL ----------------
 * mode q: queue x-message-ttl=TTL, plain messages (each expires TTL after it was enqueued).
 * mode m: queue without TTL, each message has per-message expiration = (t0+TTL) - now, so all
 *         1M expire at the same instant D = t0+TTL (a burst). */
static int ttl_main(int n,int ttl,int pid,char mode){
  amqp_connection_state_t c=conn(),pc=conn();const char*q=mode=='q'?"b5-ttl":"b5-ttl-m";uint32_t target=mode=='u'?1:0; /* u: like m, behind one head message that lives 600 s */
  amqp_queue_delete(c,1,amqp_cstring_bytes(q),0,0);amqp_get_rpc_reply(c);
  amqp_table_entry_t e={.key=amqp_cstring_bytes("x-message-ttl"),.value={.kind=AMQP_FIELD_KIND_I32,.value.i32=ttl}};
  amqp_table_t args={mode=='q'?1:0,&e};amqp_queue_declare(c,1,amqp_cstring_bytes(q),0,0,0,0,args);chk(amqp_get_rpc_reply(c),"declare");
  double cpu0,cpu1,cpu2,cpuf=-1,cpul=-1;long rss0,rss1,rss2,rss3,r_;sleep(1);proc(pid,&cpu0,&rss0);
  char body[16]={0},exp[32];amqp_bytes_t bb={16,body};amqp_basic_properties_t p={._flags=AMQP_BASIC_DELIVERY_MODE_FLAG,.delivery_mode=1};
  if(mode!='q')p._flags|=AMQP_BASIC_EXPIRATION_FLAG;
  if(mode=='u'){amqp_basic_properties_t h=p;h.expiration=amqp_cstring_bytes("600000");if(amqp_basic_publish(c,1,amqp_empty_bytes,amqp_cstring_bytes(q),0,0,&h,bb))die("pub");}
  double t0=mono();int64_t w_deadline=wall_us()+ttl*1000LL;
  for(int i=0;i<n;i++){if(mode!='q'){int64_t left=(w_deadline-wall_us())/1000;if(left<0)left=0;snprintf(exp,32,"%lld",(long long)left);p.expiration=amqp_cstring_bytes(exp);}
    if(amqp_basic_publish(c,1,amqp_empty_bytes,amqp_cstring_bytes(q),0,0,&p,bb))die("pub");}
  uint32_t cnt=qcount(c,q); /* same channel: all publishes processed */
  double t1=mono();proc(pid,&cpu1,&rss1);
  printf("mode %c TTL %d ms: fill %d msgs in %.3f s (%.0f msg/s), count after fill %u, RSS before %ld KB after fill %ld KB, broker CPU fill %.2f s\n",mode,ttl,n,t1-t0,n/(t1-t0),cnt,rss0,rss1,cpu1-cpu0);
  double first_deadline=t0+ttl/1000.0,last_deadline=(mode!='q'?t0:t1)+ttl/1000.0,tzero=0;int polls=0;
  while(1){double t=mono();if(cpuf<0&&t>=first_deadline)proc(pid,&cpuf,&r_);if(cpul<0&&t>=last_deadline)proc(pid,&cpul,&r_);
    cnt=qcount(pc,q);polls++;t=mono();
    if(cnt==target){tzero=t;break;}
    if(t>last_deadline+120){printf("timeout: count %u\n",cnt);break;}
    usleep(2000);}
  proc(pid,&cpu2,&rss2);if(cpuf<0)cpuf=cpu2;if(cpul<0)cpul=cpu2;
  printf("  count->target at: first deadline %+.3f s, last deadline %+.3f s (poll every ~2 ms, %d polls)\n",tzero-first_deadline,tzero-last_deadline,polls);
  printf("  broker CPU: fill-end..first-deadline %.3f s, first-deadline..count 0 %.3f s (window %.2f s, incl. polling)\n",cpuf-cpu1,cpu2-cpuf,tzero-first_deadline);
  printf("  RSS at count 0: %ld KB\n",rss2);sleep(3);double cpu3;proc(pid,&cpu3,&rss3);printf("  RSS 3 s later: %ld KB (cpu +%.2f)\n",rss3,cpu3-cpu2);
  amqp_queue_delete(c,1,amqp_cstring_bytes(q),0,0);amqp_get_rpc_reply(c);proc(pid,&cpu3,&rss3);printf("  RSS after queue delete: %ld KB\n",rss3);return 0;}

/* ---------------- delayed ---------------- */
static int64_t *lat;static atomic_long got;static long want;static atomic_int cready;static const char*dq="b5-delayed-q";
static void*dconsumer(void*a){(void)a;amqp_connection_state_t c=conn();
  amqp_basic_consume(c,1,amqp_cstring_bytes(dq),amqp_empty_bytes,0,1,0,amqp_empty_table);chk(amqp_get_rpc_reply(c),"consume");
  atomic_store(&cready,1);struct timeval tv={90,0};
  while(got<want){amqp_envelope_t env;amqp_maybe_release_buffers(c);amqp_rpc_reply_t r=amqp_consume_message(c,&env,&tv,0);
    if(r.reply_type!=AMQP_RESPONSE_NORMAL){fprintf(stderr,"consume end type %d lib %d after %ld\n",r.reply_type,r.library_error,(long)got);break;}
    int64_t now=wall_us(),fire;memcpy(&fire,env.message.body.bytes,8);lat[got]=now-fire;atomic_fetch_add(&got,1);amqp_destroy_envelope(&env);}
  return 0;}
static int cmp64(const void*a,const void*b){int64_t x=*(int64_t*)a,y=*(int64_t*)b;return x<y?-1:x>y;}
static int delay_main(long n,int mn,int mx,int persistent,int pid){
  amqp_connection_state_t c=conn();const char*ex=persistent?"b5-delayed-dur":"b5-delayed";want=n;lat=calloc(n,8);
  amqp_exchange_delete(c,1,amqp_cstring_bytes(ex),0);amqp_get_rpc_reply(c);amqp_queue_delete(c,1,amqp_cstring_bytes(dq),0,0);amqp_get_rpc_reply(c);
  amqp_table_entry_t e={.key=amqp_cstring_bytes("x-delayed-type"),.value={.kind=AMQP_FIELD_KIND_UTF8,.value.bytes=amqp_cstring_bytes("direct")}};
  amqp_table_t args={1,&e};amqp_exchange_declare(c,1,amqp_cstring_bytes(ex),amqp_cstring_bytes("x-delayed-message"),0,persistent,0,0,args);chk(amqp_get_rpc_reply(c),"xdecl");
  amqp_queue_declare(c,1,amqp_cstring_bytes(dq),0,persistent,0,0,amqp_empty_table);chk(amqp_get_rpc_reply(c),"qdecl");
  amqp_queue_bind(c,1,amqp_cstring_bytes(dq),amqp_cstring_bytes(ex),amqp_cstring_bytes("k"),amqp_empty_table);chk(amqp_get_rpc_reply(c),"bind");
  pthread_t th;pthread_create(&th,0,dconsumer,0);while(!atomic_load(&cready))usleep(1000);
  double cpu0,cpu1,cpu2;long rss0,rss1,rss2;proc(pid,&cpu0,&rss0);
  char body[16]={0};amqp_bytes_t bb={16,body};amqp_table_entry_t h={.key=amqp_cstring_bytes("x-delay"),.value={.kind=AMQP_FIELD_KIND_I32}};
  amqp_basic_properties_t p={._flags=AMQP_BASIC_DELIVERY_MODE_FLAG|AMQP_BASIC_HEADERS_FLAG,.delivery_mode=persistent?2:1,.headers={1,&h}};
  srand(42);double t0=mono();int64_t w0=wall_us();
  for(long i=0;i<n;i++){int d=mn+(int)((long)rand()%(mx-mn+1));h.value.value.i32=d;int64_t fire=wall_us()+d*1000LL;memcpy(body,&fire,8);
    if(amqp_basic_publish(c,1,amqp_cstring_bytes(ex),amqp_cstring_bytes("k"),0,0,&p,bb))die("pub");}
  amqp_exchange_declare(c,1,amqp_cstring_bytes(ex),amqp_cstring_bytes("x-delayed-message"),1,persistent,0,0,args);chk(amqp_get_rpc_reply(c),"sync");
  double t1=mono();proc(pid,&cpu1,&rss1);
  printf("scheduled %ld %s msgs (x-delay %d..%d ms) in %.2f s (%.0f msg/s); first fire due at +%.1f s\n",n,persistent?"persistent":"transient",mn,mx,t1-t0,n/(t1-t0),mn/1000.0-(t1-t0));
  printf("broker RSS before %ld KB, after scheduling %ld KB (delta %.1f MB, %.1f B/msg); broker CPU for scheduling %.2f s\n",rss0,rss1,(rss1-rss0)/1024.0,(rss1-rss0)*1024.0/n,cpu1-cpu0);
  (void)w0;pthread_join(th,0);proc(pid,&cpu2,&rss2);long g=got;
  printf("received %ld/%ld; broker CPU during firing %.2f s; RSS after all fired %ld KB\n",g,n,cpu2-cpu1,rss2);
  qsort(lat,g,8,cmp64);long early=0,early1=0;for(long i=0;i<g;i++){if(lat[i]<0)early++;if(lat[i]<-1000)early1++;}
  if(g)printf("lateness (arrival - intended fire) ms: min %.3f p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f; early(<0) %ld, early by >1 ms %ld\n",
    lat[0]/1e3,lat[g/2]/1e3,lat[(long)(g*0.9)]/1e3,lat[(long)(g*0.99)]/1e3,lat[(long)(g*0.999)]/1e3,lat[g-1]/1e3,early,early1);
  amqp_exchange_delete(c,1,amqp_cstring_bytes(ex),0);amqp_get_rpc_reply(c);amqp_queue_delete(c,1,amqp_cstring_bytes(dq),0,0);amqp_get_rpc_reply(c);return 0;}

/* ---------------- priority ---------------- */
static atomic_int stop;static atomic_long pubd,cons;static const char*pq;static int prefetch=1000;
static void*pproducer(void*a){(void)a;amqp_connection_state_t c=conn();char body[16]={0};amqp_bytes_t bb={16,body};
  amqp_basic_properties_t p={._flags=AMQP_BASIC_DELIVERY_MODE_FLAG|AMQP_BASIC_PRIORITY_FLAG,.delivery_mode=1};unsigned s=1;long k=0;
  while(!atomic_load(&stop)){p.priority=rand_r(&s)%10;if(amqp_basic_publish(c,1,amqp_empty_bytes,amqp_cstring_bytes(pq),0,0,&p,bb))die("pub");if(++k%256==0)atomic_store(&pubd,k);}
  atomic_store(&pubd,k);amqp_connection_close(c,AMQP_REPLY_SUCCESS);return 0;}
static void*pconsumer(void*a){(void)a;amqp_connection_state_t c=conn();amqp_basic_qos(c,1,0,prefetch,0);chk(amqp_get_rpc_reply(c),"qos");
  amqp_basic_consume(c,1,amqp_cstring_bytes(pq),amqp_empty_bytes,0,0,0,amqp_empty_table);chk(amqp_get_rpc_reply(c),"consume");
  long k=0;struct timeval tv={0,200000};
  while(!atomic_load(&stop)){amqp_envelope_t env;amqp_maybe_release_buffers(c);amqp_rpc_reply_t r=amqp_consume_message(c,&env,&tv,0);
    if(r.reply_type!=AMQP_RESPONSE_NORMAL)continue;k++;if(k%50==0)amqp_basic_ack(c,1,env.delivery_tag,1);amqp_destroy_envelope(&env);if(k%256==0)atomic_store(&cons,k);}
  atomic_store(&cons,k);return 0;}
static int prio_main(int secs,int maxp){
  amqp_connection_state_t c=conn();pq=maxp?"b5-prio":"b5-plain";amqp_queue_delete(c,1,amqp_cstring_bytes(pq),0,0);amqp_get_rpc_reply(c);
  amqp_table_entry_t e={.key=amqp_cstring_bytes("x-max-priority"),.value={.kind=AMQP_FIELD_KIND_I32,.value.i32=maxp}};
  amqp_table_t args={maxp?1:0,&e};amqp_queue_declare(c,1,amqp_cstring_bytes(pq),0,0,0,0,args);chk(amqp_get_rpc_reply(c),"declare");
  pthread_t a,b;pthread_create(&b,0,pconsumer,0);usleep(200000);double t0=mono();pthread_create(&a,0,pproducer,0);
  sleep(secs);long pc=atomic_load(&pubd),cc=atomic_load(&cons);double t1=mono();atomic_store(&stop,1);pthread_join(a,0);pthread_join(b,0);
  uint32_t backlog=qcount(c,pq);
  printf("{\"queue\":\"%s\",\"secs\":%.2f,\"published_per_s\":%.0f,\"consumed_per_s\":%.0f,\"backlog_end\":%u}\n",pq,t1-t0,pc/(t1-t0),cc/(t1-t0),backlog);
  amqp_queue_delete(c,1,amqp_cstring_bytes(pq),0,0);amqp_get_rpc_reply(c);return 0;}

int main(int argc,char**argv){if(argc<3)die("usage");port=atoi(argv[2]);
  if(!strcmp(argv[1],"ttl")&&argc>=6)return ttl_main(atoi(argv[3]),atoi(argv[4]),atoi(argv[5]),argc>6?argv[6][0]:'q');
  if(!strcmp(argv[1],"delay")&&argc>=8)return delay_main(atol(argv[3]),atoi(argv[4]),atoi(argv[5]),atoi(argv[6]),atoi(argv[7]));
  if(!strcmp(argv[1],"prio")&&argc>=5){if(argc>5)prefetch=atoi(argv[5]);return prio_main(atoi(argv[3]),atoi(argv[4]));}
  die("usage");}
