/**
 * Compile-time guard: every response field that src/sample.ts reads has a real
 * type. A schema change that turns one into `any` or `unknown` (a
 * SerializerMethodField without a type hint, `additionalProperties: {}`,
 * `items: {}`), or an error body into `never` (error responses missing from
 * the schema), fails `npm run check` here, naming the field:
 *
 *   Type '"rating"' does not satisfy the constraint 'never'.
 *
 * A field missing from the schema fails the `keyof` constraint instead. The
 * request headers the sample sends must be declared too: openapi-fetch lets an
 * undeclared header through when the operation declares another one.
 */
import type { FetchResponse } from "openapi-fetch";

import type { paths } from "./api";

type IsAny<T> = 0 extends 1 & T ? true : false;
type IsUnknown<T> = unknown extends T ? (IsAny<T> extends true ? false : true) : false;
type IsNever<T> = [T] extends [never] ? true : false;

/** The names in K whose type in T is `any`, `unknown` or `never`. */
type Vague<T, K extends keyof T> = {
  [F in K]-?: IsAny<T[F]> extends true
    ? F
    : IsUnknown<T[F]> extends true
      ? F
      : IsNever<T[F]> extends true
        ? F
        : never;
}[K];

/** Compiles only when there are no vague names. */
type None<VagueNames extends never> = VagueNames;

/** The operation of a path and method, as openapi-fetch sees it. */
type Operation<P extends keyof paths, M extends keyof paths[P]> =
  paths[P][M] extends infer Op extends Record<string, unknown> ? Op : never;
/** What openapi-fetch gives the sample: `data` on success, `error` otherwise. */
type Data<P extends keyof paths, M extends keyof paths[P]> = NonNullable<
  FetchResponse<Operation<P, M>, {}, `${string}/${string}`>["data"]
>;
type Failure<P extends keyof paths, M extends keyof paths[P]> = NonNullable<
  FetchResponse<Operation<P, M>, {}, `${string}/${string}`>["error"]
>;
/** The request headers an operation declares (openapi-fetch does not reject undeclared ones). */
type RequestHeaders<P extends keyof paths, M extends keyof paths[P]> =
  Operation<P, M> extends { parameters: { header?: infer H } } ? NonNullable<H> : never;
/** `errors` of the error bodies that have it (the 400 `invalid` one). */
type FieldErrors<E> = E extends unknown ? ("errors" extends keyof E ? E["errors"] : never) : never;

type Each<T extends readonly unknown[]> = T[number];

// GET products/
type ProductList = Data<"/api/v1/products/", "get">;
type ProductRow = Each<ProductList["results"]>;
type ProductListError = Failure<"/api/v1/products/", "get">;
type ImageSet = NonNullable<ProductRow["main_image_set"]>;

// GET products/{slug}/
type Product = Data<"/api/v1/products/{slug}/", "get">;
type ProductError = Failure<"/api/v1/products/{slug}/", "get">;

// POST cart/items/
type Cart = Data<"/api/v1/cart/items/", "post">;
type CartError = Failure<"/api/v1/cart/items/", "post">;

// POST orders/ (checkout)
type Order = Data<"/api/v1/orders/", "post">;
type CheckoutError = Failure<"/api/v1/orders/", "post">;

// POST orders/{order_number}/cancel/
type Cancelled = Data<"/api/v1/orders/{order_number}/cancel/", "post">;
type CancelError = Failure<"/api/v1/orders/{order_number}/cancel/", "post">;

// GET manager/dashboard/
type Dashboard = Data<"/api/v1/manager/dashboard/", "get">;
type DashboardError = Failure<"/api/v1/manager/dashboard/", "get">;

export type Checks = [
  None<Vague<ProductList, "count" | "next" | "results">>,
  None<
    Vague<
      ProductRow,
      | "slug"
      | "name"
      | "brand"
      | "main_image"
      | "main_image_set"
      | "price"
      | "original_price"
      | "discount_percent"
      | "currency"
      | "rating_avg"
      | "reviews_count"
      | "in_stock"
    >
  >,
  None<Vague<ProductListError, "code" | "detail">>,
  None<Vague<ImageSet, "url" | "width" | "height" | "srcset" | "renditions">>,
  None<Vague<ImageSet["srcset"], "webp" | "jpeg">>,
  None<Vague<RequestHeaders<"/api/v1/products/", "get">, "X-Market">>,

  None<
    Vague<
      Product,
      | "name"
      | "brand"
      | "description"
      | "category"
      | "subcategory"
      | "price"
      | "original_price"
      | "currency"
      | "images"
      | "skus"
      | "rating"
      | "fit_summary"
      | "in_wishlist"
      | "related"
    >
  >,
  None<Vague<Product["category"], "name">>,
  None<Vague<Each<Product["images"]>, "url" | "alt_text" | "color" | "set">>,
  None<Vague<Each<Product["images"]>["set"], "srcset" | "width" | "height">>,
  None<Vague<Each<Product["skus"]>, "id" | "size" | "color" | "color_hex" | "in_stock" | "low_stock">>,
  None<Vague<Product["rating"], "average" | "count" | "distribution">>,
  None<Vague<Product["fit_summary"], "runs_small" | "true_to_size" | "runs_large" | "total">>,
  None<Vague<Each<Product["related"]>, "slug" | "name" | "main_image" | "price" | "currency">>,
  None<Vague<ProductError, "code" | "detail">>,
  None<Vague<RequestHeaders<"/api/v1/products/{slug}/", "get">, "X-Market">>,

  None<
    Vague<
      Cart,
      "item_count" | "subtotal" | "shipping_cost" | "total" | "left_to_free_shipping" | "currency" | "items"
    >
  >,
  None<
    Vague<
      Each<Cart["items"]>,
      "product_name" | "size" | "color" | "image" | "quantity" | "unit_price" | "line_total" | "is_available"
    >
  >,
  None<Vague<CartError, "code" | "detail">>,

  None<
    Vague<Order, "order_number" | "status" | "created_at" | "total" | "shipping_cost" | "currency" | "items">
  >,
  None<Vague<Each<Order["items"]>, "product_name" | "image" | "quantity" | "line_total">>,
  None<Vague<CheckoutError, "code" | "detail">>,
  None<Vague<{ errors: FieldErrors<CheckoutError> }, "errors">>,
  None<Vague<RequestHeaders<"/api/v1/orders/", "post">, "Idempotency-Key" | "X-Market">>,

  None<Vague<Cancelled, "status" | "cancelled_at" | "can_cancel" | "total" | "currency">>,
  None<Vague<CancelError, "code" | "detail">>,

  None<
    Vague<
      Dashboard,
      | "market"
      | "currency"
      | "generated_at"
      | "revenue_visible"
      | "today"
      | "change_percent"
      | "pending_orders"
      | "last_7_days"
      | "top_products"
      | "low_stock"
      | "unread_notifications"
    >
  >,
  None<Vague<Dashboard["today"], "revenue" | "orders_count" | "average_order_value" | "items_sold">>,
  None<Vague<Dashboard["change_percent"], "revenue" | "orders_count">>,
  None<Vague<Each<Dashboard["last_7_days"]>, "date" | "revenue" | "orders_count">>,
  None<Vague<Each<Dashboard["top_products"]>, "name" | "units" | "revenue">>,
  None<Vague<Each<Dashboard["low_stock"]>, "product_name" | "size" | "color" | "stock">>,
  None<Vague<DashboardError, "code" | "detail">>,
];
