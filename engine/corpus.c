/* corpus — the toy world's lexicon, its story grammar and the task generators (see
 * corpus.h; formats and labelling rules in docs/corpus.md).
 *
 * Owns: the lexicon (names, objects, animals, places, adjectives, feelings with every
 * Russian form the grammar uses, written out by hand rather than inflected by rule), the
 * plot grammar that turns a seed into a list of events, the two realisers that turn an
 * event into one English or one Russian sentence, and the task builders.
 * Does not own: randomness beyond one gsl_rng per call; files (the caller writes them).
 *
 * A story is planned once, as events (who did what to which object where), and then
 * realised.  The realiser keeps the entities of the previous sentence and uses a pronoun
 * for an entity that was mentioned there unless another entity of the same pronoun class
 * (English he/she/it; Russian masculine/feminine/neuter) was too — that is how
 * coreference arises, and why Russian uses names where English can say "it" (кот is "он",
 * like Иван).  The last sentence always names the characters again (long-range copying).
 * Every event is exactly one sentence in both languages, so stories align by sentence
 * (the translation task relies on it).
 */
#include "engine/corpus.h"

#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"

/* ---- lexicon ---------------------------------------------------------------------- */

enum { M = 0, F = 1, N = 2, PL = 3 };                 /* gender / number classes */
enum { NOM = 0, GEN = 1, DAT = 2, ACC = 3, INS = 4, PRE = 5 };
enum { EN = 0, RU = 1 };

enum {
    T_ANIMALS = 1 << 0, T_FOOD = 1 << 1, T_NATURE = 1 << 2, T_HOME = 1 << 3,
    T_SCHOOL = 1 << 4, T_PLAY = 1 << 5, T_EMOTIONS = 1 << 6, T_FRIENDSHIP = 1 << 7,
};
static const char *const TOPIC_NAMES[] = {"animals", "food", "nature", "home", "school",
                                          "play", "emotions", "friendship"};
enum { N_TOPICS = 8 };

typedef struct {
    const char *en;
    int g;                 /* M or F */
    const char *ru[6];     /* NOM GEN DAT ACC INS PRE */
} Name;

static const Name NAMES[] = {
    {"Anna", F, {"Анна", "Анны", "Анне", "Анну", "Анной", "Анне"}},
    {"Maria", F, {"Мария", "Марии", "Марии", "Марию", "Марией", "Марии"}},
    {"Nina", F, {"Нина", "Нины", "Нине", "Нину", "Ниной", "Нине"}},
    {"Vera", F, {"Вера", "Веры", "Вере", "Веру", "Верой", "Вере"}},
    {"Olga", F, {"Ольга", "Ольги", "Ольге", "Ольгу", "Ольгой", "Ольге"}},
    {"Lena", F, {"Лена", "Лены", "Лене", "Лену", "Леной", "Лене"}},
    {"Ivan", M, {"Иван", "Ивана", "Ивану", "Ивана", "Иваном", "Иване"}},
    {"Boris", M, {"Борис", "Бориса", "Борису", "Бориса", "Борисом", "Борисе"}},
    {"Pavel", M, {"Павел", "Павла", "Павлу", "Павла", "Павлом", "Павле"}},
    {"Oleg", M, {"Олег", "Олега", "Олегу", "Олега", "Олегом", "Олеге"}},
    {"Anton", M, {"Антон", "Антона", "Антону", "Антона", "Антоном", "Антоне"}},
    {"Igor", M, {"Игорь", "Игоря", "Игорю", "Игоря", "Игорем", "Игоре"}},
};
enum { N_NAMES = sizeof NAMES / sizeof NAMES[0] };

enum { K_FOOD = 1, K_READ = 2, K_PLAY = 4 };

/* Adjectives a noun takes (bits by index into ADJS): no green pies, no blue letters. */
#define AJ(i) (1 << (i))
enum {
    COLORS = AJ(0) | AJ(1) | AJ(2) | AJ(3), SIZE = AJ(4) | AJ(5), AGE = AJ(6) | AJ(7),
    NICE = AJ(8), BROKEN = AJ(9), BEAST = AJ(4) | AJ(5) | AJ(6) | AJ(8) | AJ(10) | AJ(11),
};

typedef struct {
    const char *en;
    int g;                 /* grammatical gender in Russian */
    const char *ru[6];
    int kind;              /* K_* uses */
    int topics;
    int adjs;              /* adjectives it takes */
} Noun;

static const Noun OBJECTS[] = {
    {"ball", M, {"мяч", "мяча", "мячу", "мяч", "мячом", "мяче"}, K_PLAY, T_PLAY, COLORS | SIZE | AGE | NICE | BROKEN},
    {"book", F, {"книга", "книги", "книге", "книгу", "книгой", "книге"}, K_READ, T_SCHOOL, COLORS | SIZE | AGE | NICE},
    {"apple", N, {"яблоко", "яблока", "яблоку", "яблоко", "яблоком", "яблоке"}, K_FOOD, T_FOOD, AJ(0) | AJ(2) | AJ(3) | SIZE | NICE},
    {"key", M, {"ключ", "ключа", "ключу", "ключ", "ключом", "ключе"}, 0, T_HOME, SIZE | AGE},
    {"hat", F, {"шапка", "шапки", "шапке", "шапку", "шапкой", "шапке"}, 0, T_HOME, COLORS | SIZE | AGE | NICE},
    {"letter", N, {"письмо", "письма", "письму", "письмо", "письмом", "письме"}, K_READ, T_FRIENDSHIP, AGE},
    {"flower", M, {"цветок", "цветка", "цветку", "цветок", "цветком", "цветке"}, 0, T_NATURE, AJ(0) | AJ(1) | AJ(3) | SIZE | NICE},
    {"box", F, {"коробка", "коробки", "коробке", "коробку", "коробкой", "коробке"}, 0, T_HOME, COLORS | SIZE | AGE | NICE | BROKEN},
    {"toy", F, {"игрушка", "игрушки", "игрушке", "игрушку", "игрушкой", "игрушке"}, K_PLAY, T_PLAY, COLORS | SIZE | AGE | NICE | BROKEN},
    {"pie", M, {"пирог", "пирога", "пирогу", "пирог", "пирогом", "пироге"}, K_FOOD, T_FOOD, SIZE | NICE},
    {"cup", F, {"чашка", "чашки", "чашке", "чашку", "чашкой", "чашке"}, 0, T_HOME, COLORS | SIZE | AGE | NICE | BROKEN},
    {"pencil", M, {"карандаш", "карандаша", "карандашу", "карандаш", "карандашом", "карандаше"}, 0, T_SCHOOL, COLORS | AJ(5) | AGE | BROKEN},
    {"umbrella", M, {"зонтик", "зонтика", "зонтику", "зонтик", "зонтиком", "зонтике"}, 0, T_HOME, COLORS | SIZE | AGE | BROKEN},
    {"ring", N, {"кольцо", "кольца", "кольцу", "кольцо", "кольцом", "кольце"}, 0, 0, AJ(5) | AGE | NICE},
};
enum { N_OBJECTS = sizeof OBJECTS / sizeof OBJECTS[0] };

enum { A_CAT = 0, A_DOG, A_BIRD, A_HEDGEHOG, A_RABBIT, A_FOX, A_FROG };
static const Noun ANIMALS[] = {
    {"cat", M, {"кот", "кота", "коту", "кота", "котом", "коте"}, 0, T_ANIMALS, BEAST},
    {"dog", F, {"собака", "собаки", "собаке", "собаку", "собакой", "собаке"}, 0, T_ANIMALS, BEAST},
    {"bird", F, {"птица", "птицы", "птице", "птицу", "птицей", "птице"}, 0, T_ANIMALS, BEAST},
    {"hedgehog", M, {"ёжик", "ёжика", "ёжику", "ёжика", "ёжиком", "ёжике"}, 0, T_ANIMALS, BEAST},
    {"rabbit", M, {"кролик", "кролика", "кролику", "кролика", "кроликом", "кролике"}, 0, T_ANIMALS, BEAST},
    {"fox", F, {"лиса", "лисы", "лисе", "лису", "лисой", "лисе"}, 0, T_ANIMALS, BEAST},
    {"frog", F, {"лягушка", "лягушки", "лягушке", "лягушку", "лягушкой", "лягушке"}, 0, T_ANIMALS, BEAST},
};
enum { N_ANIMALS = sizeof ANIMALS / sizeof ANIMALS[0] };

typedef struct {
    const char *en;
    const char *ru[5];     /* nom m, nom f, nom n, acc f, gen m (= acc of an animate m) */
    float sentiment;
} Adj;

static const Adj ADJS[] = {
    {"red", {"красный", "красная", "красное", "красную", "красного"}, 0},
    {"blue", {"синий", "синяя", "синее", "синюю", "синего"}, 0},
    {"green", {"зелёный", "зелёная", "зелёное", "зелёную", "зелёного"}, 0},
    {"yellow", {"жёлтый", "жёлтая", "жёлтое", "жёлтую", "жёлтого"}, 0},
    {"big", {"большой", "большая", "большое", "большую", "большого"}, 0},
    {"little", {"маленький", "маленькая", "маленькое", "маленькую", "маленького"}, 0},
    {"old", {"старый", "старая", "старое", "старую", "старого"}, 0},
    {"new", {"новый", "новая", "новое", "новую", "нового"}, 0},
    {"beautiful", {"красивый", "красивая", "красивое", "красивую", "красивого"}, 0.3f},
    {"broken", {"сломанный", "сломанная", "сломанное", "сломанную", "сломанного"}, -0.3f},
    {"funny", {"смешной", "смешная", "смешное", "смешную", "смешного"}, 0.3f},
    {"kind", {"добрый", "добрая", "доброе", "добрую", "доброго"}, 0.3f},
};
enum { N_ADJS = sizeof ADJS / sizeof ADJS[0] };

typedef struct {
    const char *en_to, *en_at;    /* "to the park", "in the park" */
    const char *ru_to, *ru_at;    /* "в парк", "в парке" */
    const char *en_near, *ru_near;/* "near the park", "у парка" */
    int topics;
} Place;

enum { P_HOME = 0 };
static const Place PLACES[] = {
    {"home", "at home", "домой", "дома", NULL, NULL, T_HOME},
    {"to the park", "in the park", "в парк", "в парке", "near the park", "у парка", T_NATURE},
    {"to the forest", "in the forest", "в лес", "в лесу", "near the forest", "у леса", T_NATURE},
    {"to the garden", "in the garden", "в сад", "в саду", "near the garden", "у сада", T_NATURE},
    {"to school", "at school", "в школу", "в школе", "near the school", "у школы", T_SCHOOL},
    {"to the river", "by the river", "на реку", "на реке", "near the river", "у реки", T_NATURE},
    {"to the kitchen", "in the kitchen", "на кухню", "на кухне", NULL, NULL, T_HOME | T_FOOD},
    {"to the market", "at the market", "на рынок", "на рынке", "near the market", "у рынка", T_FOOD},
    {"to the field", "in the field", "в поле", "в поле", "near the field", "у поля", T_NATURE},
};
enum { N_PLACES = sizeof PLACES / sizeof PLACES[0] };

/* Where a lost thing turns up. */
static const struct { const char *en, *ru; } SPOTS[] = {
    {"under the bed", "под кроватью"}, {"under a tree", "под деревом"},
    {"behind the door", "за дверью"}, {"in the grass", "в траве"},
    {"on the table", "на столе"}, {"in the garden", "в саду"},
};
enum { N_SPOTS = sizeof SPOTS / sizeof SPOTS[0] };

/* Feelings: Russian predicate forms (m, f, pl), and the instrumental (m, f, pl) used after
 * "чувствовал себя" (NULL: the feeling has no such paraphrase).  A past-tense verb
 * (устал) is marked verb: it takes no "был". */
typedef struct {
    const char *en;
    const char *ru[3];
    const char *ru_ins[3];
    int verb;
    int negatable;
    float sentiment;
} Feel;

enum { FE_HAPPY = 0, FE_GLAD, FE_SAD, FE_ANGRY, FE_SCARED, FE_TIRED };
static const Feel FEELS[] = {
    {"happy", {"счастлив", "счастлива", "счастливы"}, {"счастливым", "счастливой", "счастливыми"}, 0, 1, 0.8f},
    {"glad", {"рад", "рада", "рады"}, {NULL, NULL, NULL}, 0, 1, 0.6f},
    {"sad", {"грустный", "грустная", "грустные"}, {"грустным", "грустной", "грустными"}, 0, 0, -0.6f},
    {"angry", {"сердит", "сердита", "сердиты"}, {NULL, NULL, NULL}, 0, 1, -0.7f},
    {"scared", {"испуган", "испугана", "испуганы"}, {NULL, NULL, NULL}, 0, 1, -0.6f},
    {"tired", {"устал", "устала", "устали"}, {"усталым", "усталой", "усталыми"}, 1, 1, -0.3f},
};
enum { N_FEELS = sizeof FEELS / sizeof FEELS[0] };

/* Past-tense verbs: English, Russian m / f / n / plural. */
typedef struct { const char *en, *ru[4]; } Verb;
enum {
    V_WENT, V_FOUND, V_SAW, V_GAVE, V_LOST, V_SEARCHED, V_THANKED, V_HELPED, V_PLAYED, V_ATE,
    V_READ, V_SAID, V_SMILED, V_LAUGHED, V_CRIED, V_GOT, V_STAYED, V_KEPT, V_WAS, V_LIVED,
    V_RAN, V_SANG, V_SLEPT, V_BARKED, V_PURRED, V_MET, V_HAD, V_LIKED,
};
static const Verb VERBS[] = {
    [V_WENT] = {"went", {"пошёл", "пошла", "пошло", "пошли"}},
    [V_FOUND] = {"found", {"нашёл", "нашла", "нашло", "нашли"}},
    [V_SAW] = {"saw", {"увидел", "увидела", "увидело", "увидели"}},
    [V_GAVE] = {"gave", {"дал", "дала", "дало", "дали"}},
    [V_LOST] = {"lost", {"потерял", "потеряла", "потеряло", "потеряли"}},
    [V_SEARCHED] = {"looked for", {"искал", "искала", "искало", "искали"}},
    [V_THANKED] = {"thanked", {"поблагодарил", "поблагодарила", "поблагодарило", "поблагодарили"}},
    [V_HELPED] = {"helped", {"помог", "помогла", "помогло", "помогли"}},
    [V_PLAYED] = {"played", {"играл", "играла", "играло", "играли"}},
    [V_ATE] = {"ate", {"съел", "съела", "съело", "съели"}},
    [V_READ] = {"read", {"прочитал", "прочитала", "прочитало", "прочитали"}},
    [V_SAID] = {"said", {"сказал", "сказала", "сказало", "сказали"}},
    [V_SMILED] = {"smiled", {"улыбнулся", "улыбнулась", "улыбнулось", "улыбнулись"}},
    [V_LAUGHED] = {"laughed", {"засмеялся", "засмеялась", "засмеялось", "засмеялись"}},
    [V_CRIED] = {"cried", {"заплакал", "заплакала", "заплакало", "заплакали"}},
    [V_GOT] = {"got", {"получил", "получила", "получило", "получили"}},
    [V_STAYED] = {"stayed", {"остался", "осталась", "осталось", "остались"}},
    [V_KEPT] = {"kept", {"оставил", "оставила", "оставило", "оставили"}},
    [V_WAS] = {"was", {"был", "была", "было", "были"}},
    [V_LIVED] = {"lived", {"жил", "жила", "жило", "жили"}},
    [V_RAN] = {"ran away", {"убежал", "убежала", "убежало", "убежали"}},
    [V_SANG] = {"sang a song", {"спел песенку", "спела песенку", "спело песенку", "спели песенку"}},
    [V_SLEPT] = {"was sleeping", {"спал", "спала", "спало", "спали"}},
    [V_BARKED] = {"barked", {"залаял", "залаяла", "залаяло", "залаяли"}},
    [V_PURRED] = {"purred", {"замурлыкал", "замурлыкала", "замурлыкало", "замурлыкали"}},
    [V_MET] = {"met", {"встретил", "встретила", "встретило", "встретили"}},
    [V_HAD] = {"had", {"был", "была", "было", "были"}},
    [V_LIKED] = {"liked", {"понравился", "понравилась", "понравилось", "понравились"}},
};

/* ---- output buffers --------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void bput(Buf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + k + 1) cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

static void bprintf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k <= 0) return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* Upper-cases the first letter at s (ASCII or Cyrillic, UTF-8) in place. */
static void capitalize(char *s)
{
    unsigned char *u = (unsigned char *)s;
    if (u[0] >= 'a' && u[0] <= 'z') { u[0] = (unsigned char)(u[0] - 32); return; }
    if (u[0] == 0xd0 && u[1] >= 0xb0 && u[1] <= 0xbf) { u[1] = (unsigned char)(u[1] - 0x20); return; }  /* а..п */
    if (u[0] == 0xd1 && u[1] >= 0x80 && u[1] <= 0x8f) { u[0] = 0xd0; u[1] = (unsigned char)(u[1] + 0x20); return; } /* р..я */
    if (u[0] == 0xd1 && u[1] == 0x91) { u[0] = 0xd0; u[1] = 0x81; }   /* ё */
}

/* ---- entities, events and the story plan ------------------------------------------ */

enum { E_NONE = 0, E_PERSON, E_ANIMAL, E_OBJECT };
typedef struct { int kind, idx; } Ent;

static int ent_eq(Ent a, Ent b) { return a.kind == b.kind && a.idx == b.idx; }

typedef enum {
    EV_INTRO, EV_HOUSE, EV_FRIEND, EV_MEET, EV_GO, EV_FIND, EV_SEE, EV_ANIMAL_ACT, EV_GIVE,
    EV_THANK, EV_FEEL, EV_LOSE, EV_SEARCH, EV_FOUND_AGAIN, EV_HELP, EV_PLAY, EV_EAT, EV_READ,
    EV_FROM, EV_REACT, EV_SAY, EV_HOME, EV_FRIENDS, EV_LIKE,
} EvKind;

enum { ACT_HUNGRY, ACT_RAN, ACT_SLEPT, ACT_SOUND };        /* EV_ANIMAL_ACT */
enum { SAY_LOOK, SAY_THANKS, SAY_PLAY, SAY_HELLO, SAY_FOUND, SAY_WHERE };

typedef struct {
    EvKind k;
    int a, b;          /* persons (cast indices into the story's names), -1 if none */
    int both;          /* a and b act together (plural subject) */
    int obj, adj;      /* object and its adjective (-1 none) */
    int animal, aadj;  /* animal and its adjective */
    int place, spot;
    int feel, very, neg;
    int act, say, variant;
    int recip_animal;  /* EV_GIVE: the recipient is the animal */
    int keep_names;    /* realise every character by name */
} Event;

typedef struct {
    int name[2];       /* cast: NAMES indices of the hero and the friend */
    Event ev[32];
    int n;
} Plan;

static int rnd(gsl_rng *r, int n) { return (int)gsl_rng_uniform_int(r, (unsigned long)n); }
static int chance(gsl_rng *r, double p) { return gsl_rng_uniform(r) < p; }

static Event ev_new(EvKind k)
{
    return (Event){.k = k, .a = -1, .b = -1, .obj = -1, .adj = -1, .animal = -1, .aadj = -1,
                   .place = -1, .spot = -1, .feel = -1, .act = -1, .say = -1};
}

static void push(Plan *p, Event e)
{
    if (p->n < (int)(sizeof p->ev / sizeof p->ev[0])) p->ev[p->n++] = e;
}

static int pick_obj(gsl_rng *r, int kind)
{
    for (;;) {
        int o = rnd(r, N_OBJECTS);
        if (!kind || (OBJECTS[o].kind & kind)) return o;
    }
}

static int pick_adj(gsl_rng *r, const Noun *n)
{
    for (;;) {
        int a = rnd(r, N_ADJS);
        if (n->adjs & AJ(a)) return a;
    }
}

static int pick_place(gsl_rng *r, int outdoor)
{
    for (;;) {
        int p = 1 + rnd(r, N_PLACES - 1);
        if (!outdoor || PLACES[p].en_near) return p;
    }
}

/* The plot grammar: an introduction, one or two episodes, an ending. */
static void plan_story(gsl_rng *r, Plan *p)
{
    p->n = 0;
    p->name[0] = rnd(r, N_NAMES);
    do p->name[1] = rnd(r, N_NAMES); while (p->name[1] == p->name[0]);
    Event e = ev_new(EV_INTRO);
    e.a = 0;
    e.variant = rnd(r, 2);
    push(p, e);
    if (chance(r, 0.4)) {
        e = ev_new(EV_HOUSE);
        e.a = 0;
        e.place = pick_place(r, 1);
        push(p, e);
    }
    e = ev_new(chance(r, 0.5) ? EV_FRIEND : EV_MEET);
    e.a = 0;
    e.b = 1;
    push(p, e);
    const int episodes = 1 + chance(r, 0.45);
    int last = -1;
    for (int ep = 0; ep < episodes; ep++) {
        int kind;
        do kind = rnd(r, 4); while (kind == last);
        last = kind;
        const int hero = chance(r, 0.7) ? 0 : 1, other = 1 - hero;
        if (kind == 0) {          /* found something and gave it away */
            int place = pick_place(r, 0);
            e = ev_new(EV_GO); e.a = hero; e.b = other; e.both = chance(r, 0.4); e.place = place;
            push(p, e);
            const int obj = pick_obj(r, 0);
            e = ev_new(EV_FIND); e.a = hero; e.obj = obj; e.adj = chance(r, 0.8) ? pick_adj(r, &OBJECTS[obj]) : -1;
            e.place = chance(r, 0.5) ? place : -1;
            push(p, e);
            if (chance(r, 0.4)) { e = ev_new(EV_SAY); e.a = hero; e.say = SAY_LOOK; push(p, e); }
            e = ev_new(EV_GIVE); e.a = hero; e.b = other; e.obj = obj; e.variant = rnd(r, 2);
            push(p, e);
            if (chance(r, 0.5)) { e = ev_new(EV_THANK); e.a = other; e.b = hero; e.variant = rnd(r, 2); push(p, e); }
            else { e = ev_new(EV_FEEL); e.a = other; e.feel = chance(r, 0.5) ? FE_HAPPY : FE_GLAD; e.very = chance(r, 0.5); push(p, e); }
            if (OBJECTS[obj].kind & K_PLAY) { e = ev_new(EV_PLAY); e.a = hero; e.b = other; e.obj = obj; push(p, e); }
            else if (OBJECTS[obj].kind & K_FOOD) { e = ev_new(EV_EAT); e.a = other; e.obj = obj; push(p, e); }
            else if (OBJECTS[obj].kind & K_READ) { e = ev_new(EV_READ); e.a = other; e.obj = obj; push(p, e); }
            else if (chance(r, 0.5)) { e = ev_new(EV_LIKE); e.a = other; e.obj = obj; push(p, e); }
        } else if (kind == 1) {   /* lost something and found it again */
            const int obj = pick_obj(r, 0);
            e = ev_new(EV_LOSE); e.a = hero; e.obj = obj; push(p, e);
            if (chance(r, 0.5)) { e = ev_new(EV_SAY); e.a = hero; e.obj = obj; e.say = SAY_WHERE; push(p, e); }
            e = ev_new(EV_FEEL); e.a = hero; e.feel = chance(r, 0.7) ? FE_SAD : FE_SCARED; e.very = chance(r, 0.4); push(p, e);
            e = ev_new(EV_SEARCH); e.a = hero; e.obj = obj; push(p, e);
            const int finder = chance(r, 0.5) ? hero : other;
            if (finder != hero) { e = ev_new(EV_HELP); e.a = other; e.b = hero; push(p, e); }
            e = ev_new(EV_FOUND_AGAIN); e.a = finder; e.obj = obj; e.spot = rnd(r, N_SPOTS); push(p, e);
            if (chance(r, 0.5)) { e = ev_new(EV_SAY); e.a = finder; e.obj = obj; e.say = SAY_FOUND; push(p, e); }
            e = ev_new(EV_FEEL); e.a = hero; e.feel = FE_HAPPY; e.very = chance(r, 0.5); push(p, e);
        } else if (kind == 2) {   /* met an animal */
            int place = pick_place(r, 1);
            e = ev_new(EV_GO); e.a = hero; e.b = other; e.both = chance(r, 0.6); e.place = place; push(p, e);
            const int an = rnd(r, N_ANIMALS);
            e = ev_new(EV_SEE); e.a = hero; e.animal = an; e.aadj = chance(r, 0.7) ? pick_adj(r, &ANIMALS[an]) : -1;
            e.place = chance(r, 0.3) ? place : -1;
            push(p, e);
            e = ev_new(EV_ANIMAL_ACT); e.animal = an; e.act = rnd(r, 4); push(p, e);
            if (e.act == ACT_HUNGRY) {
                const int food = pick_obj(r, K_FOOD);
                e = ev_new(EV_GIVE); e.a = chance(r, 0.5) ? hero : other; e.obj = food; e.animal = an; e.recip_animal = 1;
                push(p, e);
            }
            e = ev_new(EV_REACT); e.a = hero; e.b = other; e.both = chance(r, 0.5); e.variant = rnd(r, 2); push(p, e);
        } else {                  /* a letter or a book */
            const int obj = chance(r, 0.6) ? 5 : 1;
            e = ev_new(EV_FIND); e.a = hero; e.obj = obj; e.adj = chance(r, 0.5) ? pick_adj(r, &OBJECTS[obj]) : -1;
            e.place = chance(r, 0.6) ? pick_place(r, 0) : -1;
            push(p, e);
            e = ev_new(EV_READ); e.a = hero; e.obj = obj; push(p, e);
            if (obj == 5) { e = ev_new(EV_FROM); e.a = hero; e.b = other; e.obj = obj; push(p, e); }
            e = ev_new(EV_FEEL); e.a = hero; e.feel = chance(r, 0.6) ? FE_GLAD : FE_HAPPY; e.very = chance(r, 0.5); push(p, e);
            if (chance(r, 0.5)) { e = ev_new(EV_SAY); e.a = hero; e.say = SAY_THANKS; push(p, e); }
        }
    }
    /* ending: the names come back */
    if (chance(r, 0.6)) {
        e = ev_new(EV_HOME); e.a = 0; e.b = 1; e.both = chance(r, 0.7); e.keep_names = 1; push(p, e);
    }
    e = ev_new(chance(r, 0.5) ? EV_FRIENDS : EV_FEEL);
    e.a = 0; e.b = 1; e.both = 1; e.keep_names = 1;
    if (e.k == EV_FEEL) { e.feel = chance(r, 0.5) ? FE_HAPPY : FE_TIRED; e.very = chance(r, 0.5); }
    push(p, e);
}

/* ---- realisation ------------------------------------------------------------------ */

typedef struct {
    int lang;
    const int *name;          /* the cast */
    Ent prev[8], cur[8];      /* entities of the previous / current sentence */
    int n_prev, n_cur;
    int pron_used;            /* classes that got a pronoun in this sentence (bitmask) */
    int introduced[N_OBJECTS + N_ANIMALS]; /* English: "the" once introduced */
    int keep_names;
    /* coreference annotation (NULL when not wanted): mentions of characters, offsets
     * first relative to the sentence being built, then to the whole text */
    CorpusMention **marks;
    int *n_marks, *cap_marks, sent_marks;
    int person_base;          /* first character id of this story */
} Real;

static void mark(Real *R, const Buf *b, Ent e, size_t len, int pronoun)
{
    if (!R->marks || e.kind != E_PERSON) return;
    if (*R->n_marks == *R->cap_marks) {
        *R->cap_marks = *R->cap_marks ? 2 * *R->cap_marks : 256;
        *R->marks = xrealloc(*R->marks, sizeof(CorpusMention) * (size_t)*R->cap_marks);
    }
    (*R->marks)[(*R->n_marks)++] = (CorpusMention){b->n, len, R->person_base + e.idx, pronoun};
}

static int ent_class(const Real *R, Ent e)
{
    if (e.kind == E_PERSON) return NAMES[R->name[e.idx]].g;
    if (R->lang == EN) return N;
    return e.kind == E_ANIMAL ? ANIMALS[e.idx].g : OBJECTS[e.idx].g;
}

static void mention(Real *R, Ent e)
{
    for (int i = 0; i < R->n_cur; i++) if (ent_eq(R->cur[i], e)) return;
    if (R->n_cur < 8) R->cur[R->n_cur++] = e;
}

/* A pronoun is allowed for e when e was in the previous sentence, no other entity of its
 * pronoun class was (unless already named in this sentence), and no other pronoun of the
 * class was used in this sentence. */
static int can_pronoun(const Real *R, Ent e)
{
    if (R->keep_names) return 0;
    const int cls = ent_class(R, e);
    if (R->pron_used & (1 << cls)) return 0;
    int seen = 0;
    for (int i = 0; i < R->n_prev; i++) {
        if (ent_eq(R->prev[i], e)) { seen = 1; continue; }
        if (ent_class(R, R->prev[i]) != cls) continue;
        int named_here = 0;
        for (int j = 0; j < R->n_cur; j++) named_here |= ent_eq(R->cur[j], R->prev[i]);
        if (!named_here) return 0;
    }
    return seen;
}

static const char *ru_pron(int cls, int c, int prep)
{
    static const char *const P[4][6] = {
        {"он", "его", "ему", "его", "им", "нём"},
        {"она", "её", "ей", "её", "ей", "ней"},
        {"оно", "его", "ему", "его", "им", "нём"},
        {"они", "их", "им", "их", "ими", "них"},
    };
    static const char *const PP[4][6] = {   /* after a preposition: н- forms */
        {"он", "него", "нему", "него", "ним", "нём"},
        {"она", "неё", "ней", "неё", "ней", "ней"},
        {"оно", "него", "нему", "него", "ним", "нём"},
        {"они", "них", "ним", "них", "ними", "них"},
    };
    return prep ? PP[cls][c] : P[cls][c];
}

static const char *en_pron(int cls, int c)
{
    /* c: NOM subject, ACC object, GEN possessive */
    static const char *const P[4][3] = {{"he", "him", "his"}, {"she", "her", "her"},
                                        {"it", "it", "its"}, {"they", "them", "their"}};
    return P[cls][c == NOM ? 0 : c == GEN ? 2 : 1];
}

static const Noun *ent_noun(Ent e) { return e.kind == E_ANIMAL ? &ANIMALS[e.idx] : &OBJECTS[e.idx]; }
static int intro_slot(Ent e) { return e.kind == E_ANIMAL ? N_OBJECTS + e.idx : e.idx; }

/* Appends a reference to e in Russian case c (English: c picks subject / object /
 * possessive); prep marks a Russian preposition before it. */
static void put_ref(Real *R, Buf *b, Ent e, int c, int prep)
{
    if (can_pronoun(R, e)) {
        const int cls = ent_class(R, e);
        const char *pr = R->lang == RU ? ru_pron(cls, c, prep) : en_pron(cls, c);
        mark(R, b, e, strlen(pr), 1);
        bput(b, pr);
        R->pron_used |= 1 << cls;
    } else if (e.kind == E_PERSON) {
        const Name *nm = &NAMES[R->name[e.idx]];
        mark(R, b, e, strlen(R->lang == RU ? nm->ru[c] : nm->en), 0);
        if (R->lang == RU) bput(b, nm->ru[c]);
        else bprintf(b, c == GEN ? "%s's" : "%s", nm->en);
    } else {
        const Noun *n = ent_noun(e);
        if (R->lang == RU) bput(b, n->ru[c]);
        else bprintf(b, c == GEN ? "the %s's" : "the %s", n->en);
    }
    mention(R, e);
}

static int starts_vowel(const char *s) { return strchr("aeiou", s[0]) != NULL; }

/* "a red ball" / "красный мяч" (nominative or accusative), first mention of e. */
static void put_indef(Real *R, Buf *b, Ent e, int adj, int c)
{
    const Noun *n = ent_noun(e);
    if (R->lang == EN) {
        const char *first = adj >= 0 ? ADJS[adj].en : n->en;
        bprintf(b, "%s %s%s%s", starts_vowel(first) ? "an" : "a", adj >= 0 ? ADJS[adj].en : "",
                adj >= 0 ? " " : "", n->en);
    } else {
        if (adj >= 0) {
            const Adj *a = &ADJS[adj];
            const char *form;
            if (n->g == F) form = c == ACC ? a->ru[3] : a->ru[1];
            else if (n->g == N) form = a->ru[2];
            else form = (c == ACC && e.kind == E_ANIMAL) ? a->ru[4] : a->ru[0];
            bprintf(b, "%s ", form);
        }
        bput(b, n->ru[c]);
    }
    R->introduced[intro_slot(e)] = 1;
    mention(R, e);
}

/* A known object or animal: the noun (English "the"), or a pronoun when allowed. */
static void put_known(Real *R, Buf *b, Ent e, int c, int prep)
{
    if (e.kind == E_PERSON) {
        put_ref(R, b, e, c, prep);
        return;
    }
    if (!R->introduced[intro_slot(e)] && R->lang == EN && !can_pronoun(R, e)) {
        bprintf(b, "%s %s", starts_vowel(ent_noun(e)->en) ? "an" : "a", ent_noun(e)->en);
        R->introduced[intro_slot(e)] = 1;
        mention(R, e);
        return;
    }
    R->introduced[intro_slot(e)] = 1;
    put_ref(R, b, e, c, prep);
}

static Ent P_(int i) { return (Ent){E_PERSON, i}; }
static Ent O_(int i) { return (Ent){E_OBJECT, i}; }
static Ent A_(int i) { return (Ent){E_ANIMAL, i}; }

/* Subject: one person, or the two together ("they" when both were just mentioned). */
static int put_subject(Real *R, Buf *b, const Event *e)
{
    if (!e->both) {
        put_ref(R, b, P_(e->a), NOM, 0);
        return NAMES[R->name[e->a]].g;
    }
    int both_prev = 0;
    for (int i = 0; i < R->n_prev; i++) both_prev += ent_eq(R->prev[i], P_(e->a)) || ent_eq(R->prev[i], P_(e->b));
    if (!R->keep_names && both_prev == 2 && !(R->pron_used & (1 << PL))) {
        bput(b, R->lang == RU ? "они" : "they");
        R->pron_used |= 1 << PL;
        mention(R, P_(e->a));
        mention(R, P_(e->b));
    } else {
        const int keep = R->keep_names;
        R->keep_names = 1;
        put_ref(R, b, P_(e->a), NOM, 0);
        bput(b, R->lang == RU ? " и " : " and ");
        put_ref(R, b, P_(e->b), NOM, 0);
        R->keep_names = keep;
    }
    return PL;
}

static const char *vru(int v, int cls) { return VERBS[v].ru[cls]; }

/* The feeling's predicate after the subject: "was very happy" / "была очень счастлива". */
static void put_feel(Real *R, Buf *b, const Event *e, int cls)
{
    const Feel *f = &FEELS[e->feel];
    const int form = cls == PL ? 2 : cls;
    if (R->lang == EN) {
        bprintf(b, " %s%s%s %s", cls == PL ? "were" : "was", e->neg ? " not" : "", e->very ? " very" : "", f->en);
    } else if (f->verb) {
        bprintf(b, "%s%s %s", e->neg ? " не" : "", e->very ? " очень" : "", f->ru[form]);
    } else {
        bprintf(b, "%s %s%s %s", e->neg ? " не" : "", vru(V_WAS, cls), e->very ? " очень" : "", f->ru[form]);
    }
}

static const char *friend_word(int lang, int g) { return lang == EN ? "friend" : g == F ? "подруга" : "друг"; }

/* One event as one sentence, appended to b. */
static void realise(Real *R, Buf *out, const Event *e)
{
    Buf s = {0};
    const int ru = R->lang == RU;
    R->n_cur = 0;
    R->pron_used = 0;
    R->keep_names = e->keep_names;
    int cls;
    switch (e->k) {
    case EV_INTRO: {
        const Name *h = &NAMES[R->name[e->a]];
        if (ru) {
            if (e->variant == 0) bprintf(&s, "%s по имени ", h->g == F ? "жила-была маленькая девочка" : "жил-был маленький мальчик");
            else bprintf(&s, "%s по имени ", h->g == F ? "жила на свете девочка" : "жил на свете мальчик");
        } else {
            if (e->variant == 0) bprintf(&s, "once upon a time there was a little %s named ", h->g == F ? "girl" : "boy");
            else bprintf(&s, "there was a %s named ", h->g == F ? "girl" : "boy");
        }
        mark(R, &s, P_(e->a), strlen(ru ? h->ru[NOM] : h->en), 0);
        bprintf(&s, "%s.", ru ? h->ru[NOM] : h->en);
        mention(R, P_(e->a));
        break;
    }
    case EV_HOUSE:
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        if (ru) bprintf(&s, " %s в маленьком доме %s.", vru(V_LIVED, cls), PLACES[e->place].ru_near);
        else bprintf(&s, " lived in a small house %s.", PLACES[e->place].en_near);
        break;
    case EV_FRIEND: {
        const int fg = NAMES[R->name[e->b]].g;
        if (ru) {
            bput(&s, "у ");
            put_ref(R, &s, P_(e->a), GEN, 1);
            bprintf(&s, " %s %s ", vru(V_HAD, fg), friend_word(RU, fg));
            mark(R, &s, P_(e->b), strlen(NAMES[R->name[e->b]].ru[NOM]), 0);
            bprintf(&s, "%s.", NAMES[R->name[e->b]].ru[NOM]);
        } else {
            put_ref(R, &s, P_(e->a), NOM, 0);
            bput(&s, " had a friend named ");
            mark(R, &s, P_(e->b), strlen(NAMES[R->name[e->b]].en), 0);
            bprintf(&s, "%s.", NAMES[R->name[e->b]].en);
        }
        mention(R, P_(e->b));
        break;
    }
    case EV_MEET:
        cls = NAMES[R->name[e->a]].g;
        bput(&s, ru ? "однажды " : "one day ");
        put_ref(R, &s, P_(e->a), NOM, 0);
        if (ru) bprintf(&s, " %s %s, ", vru(V_MET, cls), NAMES[R->name[e->b]].g == F ? "новую подругу" : "нового друга");
        else bput(&s, " met a new friend, ");
        mark(R, &s, P_(e->b), strlen(ru ? NAMES[R->name[e->b]].ru[ACC] : NAMES[R->name[e->b]].en), 0);
        bprintf(&s, "%s.", ru ? NAMES[R->name[e->b]].ru[ACC] : NAMES[R->name[e->b]].en);
        mention(R, P_(e->b));
        break;
    case EV_GO:
        cls = put_subject(R, &s, e);
        if (ru) bprintf(&s, " %s %s.", vru(V_WENT, cls), PLACES[e->place].ru_to);
        else bprintf(&s, " went %s.", PLACES[e->place].en_to);
        break;
    case EV_FIND:
    case EV_SEE: {
        const int see = e->k == EV_SEE;
        if (e->place >= 0) bprintf(&s, ru ? "%s " : "%s, ", ru ? PLACES[e->place].ru_at : PLACES[e->place].en_at);
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        bprintf(&s, " %s ", ru ? vru(see ? V_SAW : V_FOUND, cls) : see ? "saw" : "found");
        if (see) put_indef(R, &s, A_(e->animal), e->aadj, ACC);
        else put_indef(R, &s, O_(e->obj), e->adj, ACC);
        bput(&s, ".");
        break;
    }
    case EV_ANIMAL_ACT: {
        const Ent an = A_(e->animal);
        const int g = ru ? ANIMALS[e->animal].g : N;
        put_known(R, &s, an, NOM, 0);
        int act = e->act;
        if (act == ACT_SOUND && e->animal != A_CAT && e->animal != A_DOG && e->animal != A_BIRD) act = ACT_RAN;
        if (act == ACT_HUNGRY) {
            static const char *const hungry[3] = {"голоден", "голодна", "голодно"};
            if (ru) bprintf(&s, " %s %s.", vru(V_WAS, ANIMALS[e->animal].g), hungry[ANIMALS[e->animal].g]);
            else bput(&s, " was hungry.");
        } else if (act == ACT_RAN) {
            bprintf(&s, " %s.", ru ? vru(V_RAN, g) : "ran away");
        } else if (act == ACT_SLEPT) {
            if (ru) bprintf(&s, " %s под деревом.", vru(V_SLEPT, g));
            else bput(&s, " was sleeping under a tree.");
        } else {
            const int v = e->animal == A_CAT ? V_PURRED : e->animal == A_DOG ? V_BARKED : V_SANG;
            bprintf(&s, " %s.", ru ? vru(v, g) : VERBS[v].en);
        }
        break;
    }
    case EV_GIVE: {
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        const Ent rcp = e->recip_animal ? A_(e->animal) : P_(e->b);
        /* a pronoun recipient goes before the thing: "дал ему пирог", "gave it an apple" */
        const int rcp_pron = can_pronoun(R, rcp);
        if (ru) {
            bprintf(&s, " %s ", vru(V_GAVE, cls));
            if (rcp_pron) {
                put_known(R, &s, rcp, DAT, 0);
                bput(&s, " ");
                put_known(R, &s, O_(e->obj), ACC, 0);
            } else {
                put_known(R, &s, O_(e->obj), ACC, 0);
                bput(&s, " ");
                put_known(R, &s, rcp, DAT, 0);
            }
        } else {
            const int obj_pron = can_pronoun(R, O_(e->obj));
            bput(&s, " gave ");
            if (!obj_pron && (rcp_pron || (e->variant == 1 && !e->recip_animal))) {
                /* "gave Ivan the ball", never "gave Ivan it" */
                put_known(R, &s, rcp, ACC, 0);
                bput(&s, " ");
                put_known(R, &s, O_(e->obj), ACC, 0);
            } else {
                put_known(R, &s, O_(e->obj), ACC, 0);
                bput(&s, " to ");
                put_known(R, &s, rcp, ACC, 0);
            }
        }
        bput(&s, ".");
        break;
    }
    case EV_THANK:
        cls = NAMES[R->name[e->a]].g;
        if (e->variant == 0) {
            put_ref(R, &s, P_(e->a), NOM, 0);
            bprintf(&s, " %s ", ru ? vru(V_THANKED, cls) : "thanked");
            put_ref(R, &s, P_(e->b), ACC, 0);
            bput(&s, ".");
        } else {
            bput(&s, ru ? "«Спасибо!» — " : "\"Thank you!\" ");
            bprintf(&s, "%s ", ru ? vru(V_SAID, cls) : "said");
            const int keep = R->keep_names;
            R->keep_names = 1;   /* after a quote the speaker is named */
            put_ref(R, &s, P_(e->a), NOM, 0);
            R->keep_names = keep;
            bput(&s, ".");
        }
        break;
    case EV_FEEL:
        cls = put_subject(R, &s, e);
        put_feel(R, &s, e, cls);
        bput(&s, ".");
        break;
    case EV_LOSE:
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        if (ru) {
            static const char *const svoj[3] = {"свой", "свою", "своё"};
            bprintf(&s, " %s %s %s.", vru(V_LOST, cls), svoj[OBJECTS[e->obj].g], OBJECTS[e->obj].ru[ACC]);
        } else {
            bprintf(&s, " lost %s %s.", en_pron(cls, GEN), OBJECTS[e->obj].en);
        }
        R->introduced[e->obj] = 1;
        mention(R, O_(e->obj));
        break;
    case EV_SEARCH:
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        bprintf(&s, " %s ", ru ? vru(V_SEARCHED, cls) : "looked for");
        put_known(R, &s, O_(e->obj), ACC, 0);
        bput(&s, ru ? " везде." : " everywhere.");
        break;
    case EV_FOUND_AGAIN:
        cls = NAMES[R->name[e->a]].g;
        bput(&s, ru ? "потом " : "then ");
        put_ref(R, &s, P_(e->a), NOM, 0);
        bprintf(&s, " %s ", ru ? vru(V_FOUND, cls) : "found");
        put_known(R, &s, O_(e->obj), ACC, 0);
        bprintf(&s, " %s.", ru ? SPOTS[e->spot].ru : SPOTS[e->spot].en);
        break;
    case EV_HELP:
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        bprintf(&s, " %s ", ru ? vru(V_HELPED, cls) : "helped");
        put_ref(R, &s, P_(e->b), ru ? DAT : ACC, 0);
        bput(&s, ".");
        break;
    case EV_PLAY: {
        Event t = *e;
        t.both = 1;
        cls = put_subject(R, &s, &t);
        if (ru) {
            bprintf(&s, " %s с ", vru(V_PLAYED, PL));
            put_known(R, &s, O_(e->obj), INS, 1);
        } else {
            bput(&s, " played with ");
            put_known(R, &s, O_(e->obj), ACC, 0);
        }
        bput(&s, ".");
        break;
    }
    case EV_EAT:
    case EV_READ:
        cls = NAMES[R->name[e->a]].g;
        put_ref(R, &s, P_(e->a), NOM, 0);
        bprintf(&s, " %s ", ru ? vru(e->k == EV_EAT ? V_ATE : V_READ, cls) : e->k == EV_EAT ? "ate" : "read");
        put_known(R, &s, O_(e->obj), ACC, 0);
        bput(&s, ".");
        break;
    case EV_FROM:
        put_known(R, &s, O_(e->obj), NOM, 0);
        if (ru) {
            bprintf(&s, " %s от ", vru(V_WAS, ent_class(R, O_(e->obj))));
            put_ref(R, &s, P_(e->b), GEN, 1);
        } else {
            bput(&s, " was from ");
            put_ref(R, &s, P_(e->b), ACC, 0);
        }
        bput(&s, ".");
        break;
    case EV_REACT:
        cls = put_subject(R, &s, e);
        if (ru) bprintf(&s, " %s.", vru(e->variant ? V_LAUGHED : V_SMILED, cls));
        else bprintf(&s, " %s.", e->variant ? "laughed" : "smiled");
        break;
    case EV_LIKE:
        if (ru) {   /* the thing is the grammatical subject: понравился / понравилась */
            put_ref(R, &s, P_(e->a), DAT, 0);
            bprintf(&s, " очень %s ", vru(V_LIKED, OBJECTS[e->obj].g));
            put_known(R, &s, O_(e->obj), NOM, 0);
        } else {
            put_ref(R, &s, P_(e->a), NOM, 0);
            bput(&s, " liked ");
            put_known(R, &s, O_(e->obj), ACC, 0);
            bput(&s, " very much");
        }
        bput(&s, ".");
        break;
    case EV_SAY: {
        cls = NAMES[R->name[e->a]].g;
        Buf q = {0};
        if (e->say == SAY_FOUND) {
            const int og = ru ? OBJECTS[e->obj].g : N;
            if (ru) bprintf(&q, "я %s %s!", vru(V_FOUND, cls), ru_pron(og, ACC, 0));
            else bput(&q, "I found it!");
        } else if (e->say == SAY_WHERE) {
            static const char *const moj[3] = {"мой", "моя", "моё"};
            if (ru) bprintf(&q, "где %s %s?", moj[OBJECTS[e->obj].g], OBJECTS[e->obj].ru[NOM]);
            else bprintf(&q, "where is my %s?", OBJECTS[e->obj].en);
            R->introduced[e->obj] = 1;
            mention(R, O_(e->obj));
        } else {
            static const char *const en[] = {"look!", "thank you!", "let's play!", "hello!"};
            static const char *const rus[] = {"смотри!", "спасибо!", "давай играть!", "привет!"};
            bput(&q, ru ? rus[e->say] : en[e->say]);
        }
        capitalize(q.s);
        bprintf(&s, ru ? "«%s» — %s " : "\"%s\" %s ", q.s, ru ? vru(V_SAID, cls) : "said");
        free(q.s);
        const int keep = R->keep_names;
        R->keep_names = 1;
        put_ref(R, &s, P_(e->a), NOM, 0);
        R->keep_names = keep;
        bput(&s, ".");
        break;
    }
    case EV_HOME:
        bput(&s, ru ? "вечером " : "in the evening, ");
        cls = put_subject(R, &s, e);
        if (ru) bprintf(&s, " %s домой.", vru(V_WENT, cls));
        else bput(&s, " went home.");
        break;
    case EV_FRIENDS: {
        cls = put_subject(R, &s, e);
        const int girls = NAMES[R->name[e->a]].g == F && NAMES[R->name[e->b]].g == F;
        if (ru) bprintf(&s, " были хорошими %s.", girls ? "подругами" : "друзьями");
        else bput(&s, " were good friends.");
        break;
    }
    }
    capitalize(s.s);
    if (out->n && out->s[out->n - 1] != '\n') bput(out, " ");
    if (R->marks)
        for (int i = R->sent_marks; i < *R->n_marks; i++) (*R->marks)[i].off += out->n;
    bput(out, s.s);
    free(s.s);
    if (R->marks) R->sent_marks = *R->n_marks;
    memcpy(R->prev, R->cur, sizeof R->cur);
    R->n_prev = R->n_cur;
}

static void real_init(Real *R, int lang, const Plan *p)
{
    memset(R, 0, sizeof *R);
    R->lang = lang;
    R->name = p->name;
}

typedef struct {
    CorpusMention *m;
    int n, cap;
    int story;
} Marks;

static void story_text(const Plan *p, int lang, Buf *out, Marks *mk)
{
    Real R;
    real_init(&R, lang, p);
    if (mk) {
        R.marks = &mk->m;
        R.n_marks = &mk->n;
        R.cap_marks = &mk->cap;
        R.sent_marks = mk->n;
        R.person_base = 2 * mk->story++;
    }
    for (int i = 0; i < p->n; i++) realise(&R, out, &p->ev[i]);
}

/* One event in a fresh context (names and nouns, no pronouns), as one sentence. */
static char *sentence(const Plan *p, const Event *e, int lang)
{
    Real R;
    real_init(&R, lang, p);
    Buf b = {0};
    realise(&R, &b, e);
    return b.s;
}

/* ---- tasks ------------------------------------------------------------------------ */

static float clampf(float x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

static float event_sentiment(const Event *e)
{
    float s = 0;
    switch (e->k) {
    case EV_FEEL: {
        s = FEELS[e->feel].sentiment;
        if (e->very) s *= 1.25f;
        if (e->neg) s *= -0.5f;
        break;
    }
    case EV_FIND: s = 0.3f + (e->adj >= 0 ? ADJS[e->adj].sentiment : 0); break;
    case EV_SEE: s = 0.1f + (e->aadj >= 0 ? ADJS[e->aadj].sentiment : 0); break;
    case EV_LOSE: s = -0.5f; break;
    case EV_FOUND_AGAIN: s = 0.4f; break;
    case EV_GIVE: s = 0.4f; break;
    case EV_THANK: s = 0.5f; break;
    case EV_REACT: s = 0.6f; break;
    case EV_HELP: s = 0.4f; break;
    case EV_FRIENDS: s = 0.6f; break;
    case EV_LIKE: s = 0.6f; break;
    case EV_ANIMAL_ACT: s = e->act == ACT_HUNGRY ? -0.3f : 0.0f; break;
    default: s = 0; break;
    }
    return clampf(s);
}

static const char *sentiment_label(float s) { return s >= 0.25f ? "positive" : s <= -0.25f ? "negative" : "neutral"; }

static int event_topics(const Event *e)
{
    int t = 0;
    if (e->obj >= 0) t |= OBJECTS[e->obj].topics;
    if (e->animal >= 0) t |= T_ANIMALS;
    if (e->place >= 0) t |= PLACES[e->place].topics;
    switch (e->k) {
    case EV_FEEL: case EV_REACT: t |= T_EMOTIONS; break;
    case EV_GIVE: case EV_THANK: case EV_HELP: case EV_FRIENDS: case EV_FRIEND: case EV_MEET: t |= T_FRIENDSHIP; break;
    case EV_PLAY: t |= T_PLAY | T_FRIENDSHIP; break;
    case EV_EAT: t |= T_FOOD; break;
    case EV_READ: t |= T_SCHOOL; break;
    case EV_ANIMAL_ACT: if (e->act == ACT_HUNGRY) t |= T_FOOD; break;
    default: break;
    }
    return t;
}

/* A random single event with the cast of p, for the sentence-level tasks. */
static Event random_event(gsl_rng *r, Plan *p)
{
    p->name[0] = rnd(r, N_NAMES);
    do p->name[1] = rnd(r, N_NAMES); while (p->name[1] == p->name[0]);
    static const EvKind kinds[] = {EV_GO, EV_FIND, EV_SEE, EV_GIVE, EV_THANK, EV_FEEL, EV_FEEL,
                                   EV_LOSE, EV_HELP, EV_PLAY, EV_EAT, EV_READ, EV_REACT,
                                   EV_LIKE, EV_ANIMAL_ACT, EV_FRIENDS, EV_FOUND_AGAIN, EV_SEARCH};
    Event e = ev_new(kinds[rnd(r, (int)(sizeof kinds / sizeof kinds[0]))]);
    e.a = 0;
    e.b = 1;
    switch (e.k) {
    case EV_GO: e.place = pick_place(r, 0); e.both = chance(r, 0.3); break;
    case EV_FIND: e.obj = pick_obj(r, 0); e.adj = chance(r, 0.7) ? pick_adj(r, &OBJECTS[e.obj]) : -1; e.place = chance(r, 0.5) ? pick_place(r, 0) : -1; break;
    case EV_SEE: e.animal = rnd(r, N_ANIMALS); e.aadj = chance(r, 0.7) ? pick_adj(r, &ANIMALS[e.animal]) : -1; e.place = chance(r, 0.4) ? pick_place(r, 1) : -1; break;
    case EV_GIVE: e.obj = pick_obj(r, 0); e.variant = rnd(r, 2); break;
    case EV_THANK: break;
    case EV_FEEL:
        e.feel = rnd(r, N_FEELS); e.very = chance(r, 0.4);
        e.neg = FEELS[e.feel].negatable && !e.very && chance(r, 0.25);
        e.both = chance(r, 0.2);
        break;
    case EV_LOSE: case EV_SEARCH: e.obj = pick_obj(r, 0); break;
    case EV_FOUND_AGAIN: e.obj = pick_obj(r, 0); e.spot = rnd(r, N_SPOTS); break;
    case EV_PLAY: e.obj = pick_obj(r, K_PLAY); break;
    case EV_EAT: e.obj = pick_obj(r, K_FOOD); break;
    case EV_READ: e.obj = pick_obj(r, K_READ); break;
    case EV_REACT: e.variant = rnd(r, 2); e.both = chance(r, 0.3); break;
    case EV_LIKE: e.obj = pick_obj(r, 0); break;
    case EV_ANIMAL_ACT: e.animal = rnd(r, N_ANIMALS); e.act = rnd(r, 4); break;
    case EV_FRIENDS: e.both = 1; break;
    default: break;
    }
    return e;
}

static void emit(Buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!s) abort();   /* jansson fails only when out of memory (err.h: allocation aborts) */
    bput(out, s);
    bput(out, "\n");
    free(s);
}

static const char *lang_code(int lang) { return lang == RU ? "ru" : "en"; }

static void task_sentiment(gsl_rng *r, int lang, Buf *out)
{
    Plan p;
    Event e = random_event(r, &p);
    char *t = sentence(&p, &e, lang);
    const float sc = roundf(event_sentiment(&e) * 100.0f) / 100.0f;
    emit(out, json_pack("{s:s, s:s, s:s, s:f}", "lang", lang_code(lang), "text", t,
                        "label", sentiment_label(sc), "score", (double)sc));
    free(t);
}

static void task_topics(gsl_rng *r, int lang, Buf *out)
{
    Plan p;
    Event e1 = random_event(r, &p);
    Event e2 = random_event(r, &p);   /* the second draw's cast is used for both */
    e2.a = e1.a; e2.b = e1.b;
    Buf b = {0};
    Real R;
    real_init(&R, lang, &p);
    realise(&R, &b, &e1);
    int topics = event_topics(&e1);
    if (chance(r, 0.7)) {
        realise(&R, &b, &e2);
        topics |= event_topics(&e2);
    }
    json_t *arr = json_array();
    for (int i = 0; i < N_TOPICS; i++)
        if (topics & (1 << i)) json_array_append_new(arr, json_string(TOPIC_NAMES[i]));
    emit(out, json_pack("{s:s, s:s, s:o}", "lang", lang_code(lang), "text", b.s, "topics", arr));
    free(b.s);
}

/* Hypotheses for NLI: built as text directly (they are not story events). */
static char *nli_hypothesis(gsl_rng *r, const Plan *p, const Event *e, int lang, const char **label)
{
    Buf h = {0};
    const Name *x = &NAMES[p->name[e->a]], *y = &NAMES[p->name[e->b]];
    const int ru = lang == RU, g = x->g;
    const char *kid_en = g == F ? "a girl" : "a boy", *kid_ru = g == F ? "девочка" : "мальчик";
    const int which = rnd(r, 3);   /* 0 entailment, 1 contradiction, 2 neutral */
    *label = which == 0 ? "entailment" : which == 1 ? "contradiction" : "neutral";
    switch (e->k) {
    case EV_FIND: {
        const Noun *o = &OBJECTS[e->obj];
        if (which == 0) {
            if (chance(r, 0.5)) {
                if (ru) bprintf(&h, "%s %s %s.", kid_ru, vru(V_FOUND, g), o->ru[ACC]);
                else bprintf(&h, "%s found %s %s.", kid_en, starts_vowel(o->en) ? "an" : "a", o->en);
            } else {
                if (ru) bprintf(&h, "у %s теперь есть %s.", x->ru[GEN], o->ru[NOM]);
                else bprintf(&h, "%s has %s %s now.", x->en, starts_vowel(o->en) ? "an" : "a", o->en);
            }
        } else if (which == 1) {
            if (ru) bprintf(&h, "%s ничего не %s.", x->ru[NOM], vru(V_FOUND, g));
            else bprintf(&h, "%s found nothing.", x->en);
        } else {
            if (ru) bprintf(&h, "%s %s %s.", y->ru[NOM], vru(V_LOST, y->g), o->ru[ACC]);
            else bprintf(&h, "%s lost %s %s.", y->en, starts_vowel(o->en) ? "an" : "a", o->en);
        }
        break;
    }
    case EV_GO:
        if (which == 0) {
            if (ru) bprintf(&h, "%s не %s дома.", x->ru[NOM], vru(V_STAYED, g));
            else bprintf(&h, "%s did not stay at home.", x->en);
        } else if (which == 1) {
            if (ru) bprintf(&h, "%s %s дома.", x->ru[NOM], vru(V_STAYED, g));
            else bprintf(&h, "%s stayed at home.", x->en);
        } else {
            if (ru) bprintf(&h, "%s %s счастлив%s.", x->ru[NOM], vru(V_WAS, g), g == F ? "а" : "");
            else bprintf(&h, "%s was happy.", x->en);
        }
        break;
    case EV_GIVE: {
        const Noun *o = &OBJECTS[e->obj];
        if (which == 0) {
            if (ru) bprintf(&h, "%s %s %s от %s.", y->ru[NOM], vru(V_GOT, y->g), o->ru[ACC], x->ru[GEN]);
            else bprintf(&h, "%s got the %s from %s.", y->en, o->en, x->en);
        } else if (which == 1) {
            if (ru) bprintf(&h, "%s %s %s себе.", x->ru[NOM], vru(V_KEPT, g), o->ru[ACC]);
            else bprintf(&h, "%s kept the %s.", x->en, o->en);
        } else {
            if (ru) bprintf(&h, "%s очень %s %s.", y->ru[DAT], vru(V_LIKED, o->g), o->ru[NOM]);
            else bprintf(&h, "%s liked the %s very much.", y->en, o->en);
        }
        break;
    }
    case EV_FEEL: {
        /* in the toy world the feelings exclude one another */
        int other;   /* a feeling of the opposite sign (happy and glad do not exclude) */
        do other = rnd(r, N_FEELS); while ((FEELS[other].sentiment > 0) == (FEELS[e->feel].sentiment > 0));
        const Feel *f = &FEELS[e->feel], *o = &FEELS[other];
        const int fcls = g;
        if (which == 0) {
            if (ru) {
                if (o->verb) bprintf(&h, "%s не %s.", x->ru[NOM], o->ru[fcls]);
                else bprintf(&h, "%s не %s %s.", x->ru[NOM], vru(V_WAS, g), o->ru_ins[fcls] ? o->ru_ins[fcls] : o->ru[fcls]);
            } else {
                bprintf(&h, "%s was not %s.", x->en, o->en);
            }
        } else if (which == 1) {
            if (ru) {
                if (o->verb) bprintf(&h, "%s %s.", x->ru[NOM], o->ru[fcls]);
                else bprintf(&h, "%s %s %s.", x->ru[NOM], vru(V_WAS, g), o->ru[fcls]);
            } else {
                bprintf(&h, "%s was %s.", x->en, o->en);
            }
        } else {
            if (ru) bprintf(&h, "%s %s домой.", x->ru[NOM], vru(V_WENT, g));
            else bprintf(&h, "%s went home.", x->en);
        }
        (void)f;
        break;
    }
    default:
        break;
    }
    return h.s;
}

static void task_nli(gsl_rng *r, int lang, Buf *out)
{
    Plan p;
    Event e;
    do e = random_event(r, &p); while (e.k != EV_FIND && e.k != EV_GO && e.k != EV_GIVE && e.k != EV_FEEL);
    e.both = 0;
    if (e.k == EV_FEEL) e.neg = 0;
    char *prem = sentence(&p, &e, lang);
    const char *label;
    char *hyp = nli_hypothesis(r, &p, &e, lang, &label);
    capitalize(hyp);
    emit(out, json_pack("{s:s, s:s, s:s, s:s}", "lang", lang_code(lang), "premise", prem,
                        "hypothesis", hyp, "label", label));
    free(prem);
    free(hyp);
}

/* A paraphrase: the same event in another construction (text, not an event). */
static char *paraphrase(const Plan *p, const Event *e, int lang)
{
    Buf b = {0};
    const Name *x = &NAMES[p->name[e->a]], *y = &NAMES[p->name[e->b]];
    const int ru = lang == RU, g = x->g;
    switch (e->k) {
    case EV_GIVE: {
        const Noun *o = &OBJECTS[e->obj];
        if (ru) bprintf(&b, "%s %s %s от %s.", y->ru[NOM], vru(V_GOT, y->g), o->ru[ACC], x->ru[GEN]);
        else bprintf(&b, "%s got the %s from %s.", y->en, o->en, x->en);
        break;
    }
    case EV_FIND: {
        const Noun *o = &OBJECTS[e->obj];
        char np[128];
        if (e->adj >= 0) {
            const Adj *a = &ADJS[e->adj];
            if (ru) snprintf(np, sizeof np, "%s %s", o->g == F ? a->ru[3] : o->g == N ? a->ru[2] : a->ru[0], o->ru[ACC]);
            else snprintf(np, sizeof np, "%s %s %s", starts_vowel(a->en) ? "an" : "a", a->en, o->en);
        } else {
            if (ru) snprintf(np, sizeof np, "%s", o->ru[ACC]);
            else snprintf(np, sizeof np, "%s %s", starts_vowel(o->en) ? "an" : "a", o->en);
        }
        if (e->place >= 0) {   /* the place moves to the end */
            if (ru) bprintf(&b, "%s %s %s %s.", x->ru[NOM], vru(V_FOUND, g), np, PLACES[e->place].ru_at);
            else bprintf(&b, "%s found %s %s.", x->en, np, PLACES[e->place].en_at);
        } else {               /* "found" -> "came across" / "нашёл" -> "обнаружил" */
            static const char *const obnar[3] = {"обнаружил", "обнаружила", "обнаружило"};
            if (ru) bprintf(&b, "%s %s %s.", x->ru[NOM], obnar[g], np);
            else bprintf(&b, "%s came across %s.", x->en, np);
        }
        break;
    }
    case EV_FEEL: {
        const Feel *f = &FEELS[e->feel];
        if (ru) bprintf(&b, "%s %s себя %s%s.", x->ru[NOM], g == F ? "чувствовала" : "чувствовал", e->very ? "очень " : "", f->ru_ins[g]);
        else bprintf(&b, "%s felt %s%s.", x->en, e->very ? "very " : "", f->en);
        break;
    }
    case EV_GO:
        if (ru) bprintf(&b, "%s %s %s.", x->ru[NOM], g == F ? "отправилась" : "отправился", PLACES[e->place].ru_to);
        else bprintf(&b, "%s headed %s.", x->en, PLACES[e->place].en_to);
        break;
    default:
        break;
    }
    capitalize(b.s);
    return b.s;
}

static void task_paraphrase(gsl_rng *r, int lang, Buf *out)
{
    Plan p;
    Event e;
    for (;;) {
        e = random_event(r, &p);
        e.both = 0;
        if (e.k == EV_GIVE || e.k == EV_GO || e.k == EV_FIND) break;
        if (e.k == EV_FEEL && FEELS[e.feel].ru_ins[0]) { e.neg = 0; break; }
    }
    char *a = sentence(&p, &e, lang);
    char *b;
    int label = 1;
    if (chance(r, 0.5)) {
        b = paraphrase(&p, &e, lang);
    } else {
        /* a near miss: same words, another meaning (roles swapped, or another object,
         * place or feeling) */
        Event f = e;
        label = 0;
        if (e.k == EV_GIVE) { f.a = e.b; f.b = e.a; }
        else if (e.k == EV_FIND) { do f.obj = pick_obj(r, 0); while (f.obj == e.obj); }
        else if (e.k == EV_GO) { do f.place = pick_place(r, 0); while (f.place == e.place); }
        else { do f.feel = rnd(r, N_FEELS); while (f.feel == e.feel || !FEELS[f.feel].ru_ins[0]); }
        b = chance(r, 0.5) ? paraphrase(&p, &f, lang) : sentence(&p, &f, lang);
    }
    emit(out, json_pack("{s:s, s:s, s:s, s:i}", "lang", lang_code(lang), "a", a, "b", b, "label", label));
    free(a);
    free(b);
}

static void task_translate(gsl_rng *r, Buf *out)
{
    Plan p;
    Event e = random_event(r, &p);
    char *en = sentence(&p, &e, EN), *ru = sentence(&p, &e, RU);
    char *in = xasprintf("translate English to Russian: %s", en);
    emit(out, json_pack("{s:s, s:s}", "input", in, "target", ru));
    free(in);
    free(en);
    free(ru);
}

/* ---- the entry point -------------------------------------------------------------- */

static const char *const TASK_NAMES[CORPUS_TASK_COUNT] = {"stories", "sentiment", "topics", "nli",
                                                          "paraphrase", "translate"};

int corpus_task_from_name(const char *name, CorpusTask *out)
{
    for (int i = 0; i < CORPUS_TASK_COUNT; i++)
        if (strcmp(name, TASK_NAMES[i]) == 0) { *out = (CorpusTask)i; return 0; }
    return ERR(ERR_ARG, "unknown corpus task '%s' (try: %s)", name, corpus_task_names());
}

const char *corpus_task_name(CorpusTask t)
{
    return (int)t >= 0 && t < CORPUS_TASK_COUNT ? TASK_NAMES[t] : "?";
}

const char *corpus_task_names(void) { return "stories, sentiment, topics, nli, paraphrase, translate"; }

int corpus_lang_from_name(const char *name, CorpusLang *out)
{
    if (strcmp(name, "en") == 0) *out = CORPUS_EN;
    else if (strcmp(name, "ru") == 0) *out = CORPUS_RU;
    else if (strcmp(name, "both") == 0) *out = CORPUS_BOTH;
    else return ERR(ERR_ARG, "unknown language '%s' (en, ru or both)", name);
    return 0;
}

static int generate(unsigned long seed, CorpusLang lang, CorpusTask task, int n, char **out,
                    size_t *len, Marks *mk)
{
    if (n < 1) return ERR(ERR_ARG, "corpus: count %d must be at least 1", n);
    if (lang != CORPUS_EN && lang != CORPUS_RU && lang != CORPUS_BOTH)
        return ERR(ERR_ARG, "corpus: unknown language %d", (int)lang);
    if ((int)task < 0 || task >= CORPUS_TASK_COUNT) return ERR(ERR_ARG, "corpus: unknown task %d", (int)task);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    /* each task draws its own stream from the same seed */
    gsl_rng_set(r, seed * 1000003ul + (unsigned long)task);
    Buf b = {0};
    bput(&b, "");
    for (int i = 0; i < n; i++) {
        const int l = lang == CORPUS_BOTH ? (i & 1 ? RU : EN) : lang == CORPUS_RU ? RU : EN;
        switch (task) {
        case CORPUS_STORIES: {
            Plan p;
            plan_story(r, &p);
            if (i) bput(&b, "\n");
            story_text(&p, l, &b, mk);
            bput(&b, "\n");
            break;
        }
        case CORPUS_SENTIMENT: task_sentiment(r, l, &b); break;
        case CORPUS_TOPICS: task_topics(r, l, &b); break;
        case CORPUS_NLI: task_nli(r, l, &b); break;
        case CORPUS_PARAPHRASE: task_paraphrase(r, l, &b); break;
        case CORPUS_TRANSLATE: task_translate(r, &b); break;
        default: break;
        }
    }
    gsl_rng_free(r);
    *out = b.s;
    *len = b.n;
    return 0;
}

int corpus_generate(unsigned long seed, CorpusLang lang, CorpusTask task, int n,
                    char **out, size_t *len)
{
    return generate(seed, lang, task, n, out, len, NULL);
}

int corpus_stories_annotated(unsigned long seed, CorpusLang lang, int n, char **out, size_t *len,
                             CorpusMention **mentions, int *n_mentions)
{
    Marks mk = {0};
    int rc = generate(seed, lang, CORPUS_STORIES, n, out, len, &mk);
    if (rc) { free(mk.m); return rc; }
    *mentions = mk.m;
    *n_mentions = mk.n;
    return 0;
}
