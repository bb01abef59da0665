"""Writes ``recipes_labelled.json``: 200 recipes in 20 topics and 80 paraphrased queries.

Each topic has a vocabulary (dishes, ingredients, techniques); its 10 recipes
draw from it with a seeded RNG. Each topic has three English queries that
paraphrase it in other words (few exact words shared with its recipes) and
one query in another language. Run: ``python bench/data/make_recipes_labelled.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS: dict[str, dict[str, list[str]]] = {
    "bread": {
        "dish": ["sourdough loaf", "whole wheat bread", "rye bread", "focaccia", "baguette"],
        "ing": ["flour", "yeast", "starter", "salt", "water", "olive oil", "rye flour"],
        "step": ["knead the dough for ten minutes", "let the dough rise until doubled",
                 "shape the loaf and proof overnight", "bake in a hot oven with steam",
                 "feed the starter the day before", "score the top with a razor"],
        "q": ["how do I make a crusty homemade loaf with a long fermentation",
              "beginner guide to leavened dough and oven baking",
              "fresh bakery style bread at home", "receta de pan casero con levadura"]},
    "pasta": {
        "dish": ["spaghetti carbonara", "penne arrabbiata", "lasagna", "fettuccine alfredo",
                 "pesto linguine"],
        "ing": ["spaghetti", "penne", "parmesan", "guanciale", "eggs", "basil", "garlic"],
        "step": ["boil the pasta in salted water until al dente", "toss the noodles with sauce",
                 "grate parmesan over the top", "reserve a cup of pasta water",
                 "layer sheets with ragu and bechamel"],
        "q": ["italian noodle dinner with a creamy cheese sauce",
              "quick weeknight macaroni dish", "classic roman noodles with egg and pork",
              "recette de pâtes italiennes au fromage"]},
    "curry": {
        "dish": ["chicken tikka masala", "chana masala", "thai green curry", "lamb rogan josh",
                 "vegetable korma"],
        "ing": ["garam masala", "turmeric", "coconut milk", "ginger", "chickpeas",
                "curry paste", "cumin"],
        "step": ["toast the spices in oil", "simmer the sauce with coconut milk",
                 "marinate the chicken in yogurt and spices", "serve with basmati rice",
                 "finish with fresh coriander"],
        "q": ["spicy indian stew with aromatic seasoning",
              "fragrant south asian dish served over rice", "hot yellow sauce with chickpeas",
              "indisches Gericht mit Gewürzen und Kokosmilch"]},
    "salad": {
        "dish": ["caesar salad", "greek salad", "quinoa salad", "caprese salad",
                 "nicoise salad"],
        "ing": ["lettuce", "cucumber", "feta", "tomatoes", "olives", "vinaigrette", "croutons"],
        "step": ["wash and dry the greens", "whisk the dressing with lemon and oil",
                 "toss everything in a large bowl", "chill before serving",
                 "crumble the cheese on top"],
        "q": ["light cold lunch of raw greens and dressing",
              "fresh leafy bowl for a hot summer day", "healthy mix of raw vegetables",
              "ensalada fresca con queso y aceitunas"]},
    "soup": {
        "dish": ["tomato soup", "chicken noodle soup", "minestrone", "french onion soup",
                 "lentil soup"],
        "ing": ["stock", "onions", "carrots", "celery", "lentils", "broth", "bay leaf"],
        "step": ["sweat the onions and celery", "pour in the stock and simmer",
                 "blend until smooth", "season the broth to taste", "ladle into bowls"],
        "q": ["warm liquid meal for a cold winter evening",
              "comforting bowl of broth when you are sick", "hearty vegetable potage",
              "soupe chaude aux légumes pour l'hiver"]},
    "cake": {
        "dish": ["chocolate cake", "carrot cake", "lemon drizzle cake", "victoria sponge",
                 "red velvet cake"],
        "ing": ["butter", "sugar", "eggs", "self raising flour", "cocoa", "buttercream",
                "vanilla"],
        "step": ["cream the butter and sugar", "fold in the flour gently",
                 "bake in a lined tin", "let it cool before icing",
                 "spread the frosting evenly"],
        "q": ["sweet birthday dessert with frosting", "spongy baked treat for a celebration",
              "layered chocolate gateau for a party", "Rezept für einen süßen Kuchen"]},
    "grill": {
        "dish": ["grilled steak", "barbecue ribs", "grilled burgers", "kebab skewers",
                 "grilled corn"],
        "ing": ["charcoal", "ribeye", "barbecue sauce", "ground beef", "skewers", "dry rub"],
        "step": ["light the charcoal and wait for white coals", "sear over direct heat",
                 "brush with barbecue sauce", "rest the meat before slicing",
                 "turn the skewers every few minutes"],
        "q": ["cooking meat outdoors over hot coals in the backyard",
              "summer cookout with smoky flavour", "how to char beef on the bbq",
              "carne a la parrilla en el jardín"]},
    "sushi": {
        "dish": ["salmon nigiri", "california roll", "tuna maki", "chirashi bowl",
                 "temaki hand roll"],
        "ing": ["sushi rice", "nori", "rice vinegar", "raw salmon", "wasabi", "soy sauce"],
        "step": ["season the rice with vinegar and sugar", "roll tightly with a bamboo mat",
                 "slice the fish against the grain", "wet the knife between cuts",
                 "serve with pickled ginger"],
        "q": ["japanese raw fish with vinegared rice", "rolling seaweed wraps at home",
              "fresh sashimi style dinner", "japanische Röllchen mit rohem Fisch"]},
    "pancakes": {
        "dish": ["buttermilk pancakes", "crepes", "waffles", "dutch baby", "blueberry pancakes"],
        "ing": ["buttermilk", "maple syrup", "baking powder", "milk", "blueberries", "batter"],
        "step": ["whisk the batter until just combined", "heat a greased griddle",
                 "flip when bubbles appear", "stack and pour syrup over",
                 "keep warm in a low oven"],
        "q": ["fluffy breakfast flapjacks with syrup", "sunday morning griddle cakes",
              "thin french breakfast wraps", "crêpes pour le petit déjeuner"]},
    "stirfry": {
        "dish": ["beef and broccoli", "kung pao chicken", "vegetable stir fry", "pad thai",
                 "fried rice"],
        "ing": ["wok", "soy sauce", "sesame oil", "broccoli", "peanuts", "rice noodles",
                "scallions"],
        "step": ["heat the wok until smoking", "fry the aromatics quickly",
                 "add the sauce and toss", "cook the vegetables on high heat",
                 "garnish with scallions and peanuts"],
        "q": ["fast chinese dinner tossed in a very hot pan",
              "quick asian veggies with savoury sauce", "leftover rice fried with egg",
              "plato asiático salteado en sartén caliente"]},
    "smoothie": {
        "dish": ["berry smoothie", "green smoothie", "mango lassi", "banana shake",
                 "protein shake"],
        "ing": ["banana", "spinach", "frozen berries", "yogurt", "almond milk", "mango"],
        "step": ["add everything to the blender", "blend until creamy",
                 "pour into a tall glass", "add ice for a thicker drink",
                 "top with chia seeds"],
        "q": ["cold blended fruit drink for breakfast", "healthy drink made in a mixer",
              "post workout fruity beverage", "boisson fraîche aux fruits mixés"]},
    "cookies": {
        "dish": ["chocolate chip cookies", "oatmeal raisin cookies", "shortbread",
                 "peanut butter cookies", "snickerdoodles"],
        "ing": ["brown sugar", "chocolate chips", "oats", "raisins", "peanut butter",
                "cinnamon"],
        "step": ["chill the dough for an hour", "scoop balls onto a baking sheet",
                 "bake until the edges are golden", "cool on a wire rack",
                 "roll in cinnamon sugar"],
        "q": ["chewy sweet biscuits for a snack", "small baked treats to dunk in milk",
              "christmas biscuits to share", "galletas dulces con chispas de chocolate"]},
    "roast": {
        "dish": ["roast chicken", "roast beef", "pork belly", "roast lamb leg",
                 "roasted vegetables"],
        "ing": ["whole chicken", "rosemary", "thyme", "potatoes", "gravy", "garlic cloves"],
        "step": ["rub the bird with butter and herbs", "roast until the juices run clear",
                 "baste every twenty minutes", "make gravy from the pan juices",
                 "carve at the table"],
        "q": ["sunday family dinner cooked whole in the oven",
              "traditional british meal with potatoes and gravy", "oven cooked poultry",
              "Sonntagsbraten aus dem Ofen mit Kartoffeln"]},
    "tacos": {
        "dish": ["carnitas tacos", "fish tacos", "chicken enchiladas", "beef burritos",
                 "quesadillas"],
        "ing": ["tortillas", "salsa", "avocado", "lime", "cilantro", "black beans", "chipotle"],
        "step": ["warm the tortillas on a dry pan", "shred the slow cooked pork",
                 "mash the avocado with lime", "fill and fold", "top with fresh salsa"],
        "q": ["mexican street food in soft flatbreads", "tex mex night with guacamole",
              "folded corn wraps with spicy meat", "comida mexicana con tortillas y salsa"]},
    "pizza": {
        "dish": ["margherita pizza", "pepperoni pizza", "calzone", "white pizza",
                 "deep dish pizza"],
        "ing": ["pizza dough", "mozzarella", "tomato sauce", "pepperoni", "oregano",
                "pizza stone"],
        "step": ["stretch the dough into a round", "spread the sauce thinly",
                 "scatter the mozzarella", "bake on a very hot stone",
                 "slice into wedges"],
        "q": ["neapolitan flatbread with cheese and tomato", "friday night homemade pie",
              "wood fired style dinner with melted cheese", "pizza casera al horno"]},
    "curing": {
        "dish": ["pickled cucumbers", "sauerkraut", "kimchi", "pickled onions",
                 "preserved lemons"],
        "ing": ["brine", "vinegar", "mason jar", "cabbage", "dill", "chili flakes", "salt"],
        "step": ["pack the vegetables into a sterilised jar", "pour the hot brine over",
                 "ferment at room temperature for a week", "massage the cabbage with salt",
                 "store in the fridge once sour"],
        "q": ["preserving vegetables in sour liquid", "fermented cabbage side dish",
              "how to keep the harvest in jars", "eingelegtes Gemüse im Glas"]},
    "eggs": {
        "dish": ["omelette", "shakshuka", "eggs benedict", "frittata", "scrambled eggs"],
        "ing": ["eggs", "hollandaise", "chives", "spinach", "feta", "english muffin"],
        "step": ["whisk the eggs with a pinch of salt", "cook gently over low heat",
                 "poach in simmering water", "fold the omelette in half",
                 "crack the eggs into the sauce"],
        "q": ["brunch dish made from whisked hens' produce",
              "quick protein breakfast in a skillet", "poached yolks with sauce on toast",
              "œufs brouillés pour le brunch"]},
    "risotto": {
        "dish": ["mushroom risotto", "risotto milanese", "paella", "seafood risotto",
                 "arancini"],
        "ing": ["arborio rice", "saffron", "white wine", "mushrooms", "stock", "parmesan"],
        "step": ["toast the rice in butter", "add the stock a ladle at a time",
                 "stir constantly until creamy", "deglaze with white wine",
                 "finish with butter and cheese"],
        "q": ["creamy italian rice stirred slowly", "spanish saffron rice pan with seafood",
              "comforting rice dish with porcini", "arroz cremoso italiano con setas"]},
    "dumplings": {
        "dish": ["pork dumplings", "gyoza", "pierogi", "wontons", "bao buns"],
        "ing": ["dumpling wrappers", "ground pork", "cabbage", "ginger", "soy dipping sauce"],
        "step": ["fill each wrapper with a spoon of filling", "pleat the edges to seal",
                 "steam for twelve minutes", "pan fry until the bottoms crisp",
                 "serve with dipping sauce"],
        "q": ["little stuffed parcels steamed in a basket", "chinese new year filled pockets",
              "potstickers with crispy bottoms", "gefüllte Teigtaschen gedämpft"]},
    "icecream": {
        "dish": ["vanilla ice cream", "chocolate gelato", "strawberry sorbet",
                 "mango kulfi", "no churn ice cream"],
        "ing": ["cream", "condensed milk", "egg yolks", "vanilla pod", "strawberries",
                "ice cream maker"],
        "step": ["make a custard and chill it", "churn until thick",
                 "freeze for four hours", "fold whipped cream into condensed milk",
                 "scoop into cones"],
        "q": ["frozen creamy dessert for hot days", "homemade cold treat churned in a machine",
              "fruit sorbet to cool down", "helado casero de vainilla"]},
}


def main() -> None:
    rng = random.Random(12)
    recipes, queries = [], []
    for topic, v in TOPICS.items():
        for i in range(10):
            dish = v["dish"][i % len(v["dish"])]
            style = rng.choice(["easy", "classic", "quick", "family", "weekend", "simple",
                                "rustic", "my favourite"])
            ings = rng.sample(v["ing"], k=min(4, len(v["ing"])))
            steps = rng.sample(v["step"], k=3)
            recipes.append({
                "topic": topic,
                "title": f"{style.title()} {dish}",
                "prompt": f"give me a {style} recipe for {dish} using {', '.join(ings[:2])}",
                "steps": [f"gather {', '.join(ings)}", *steps],
                "tags": [style.replace(" ", "-"), ings[0].replace(" ", "-")]})
        for q in v["q"]:
            queries.append({"topic": topic, "query": q, "english": q == v["q"][0] or
                            q in v["q"][:3]})
    out = Path(__file__).with_name("recipes_labelled.json")
    out.write_text(json.dumps({"recipes": recipes, "queries": queries}, indent=1,
                              ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(recipes)} recipes, {len(queries)} queries")


if __name__ == "__main__":
    main()
