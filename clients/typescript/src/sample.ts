/**
 * How the Next.js storefront and dashboard call the MARQUE API, typed only by
 * the OpenAPI schema (`npm run generate` writes ./api.d.ts from it).
 *
 * Written the way a frontend developer would, with no `any`, no `as` and no
 * `!`: if this file does not compile, the schema does not describe what the
 * screens need. Each loader returns what its screen renders, or the failure
 * the screen shows (switch on `code`, print `detail`). See docs/FRONTEND.md.
 */
import createClient from "openapi-fetch";

import type { paths, SchemaMarketEnum, SchemaPaymentMethodEnum } from "./api";

export type Locale = "en" | "ru" | "ky";

/** A server component makes one per request; the browser one per session. */
export function marqueApi(options: { baseUrl: string; locale: Locale; accessToken?: string }) {
  const headers: Record<string, string> = { "Accept-Language": options.locale };
  if (options.accessToken) headers.Authorization = `Bearer ${options.accessToken}`;
  return createClient<paths>({ baseUrl: options.baseUrl, headers });
}

export type MarqueApi = ReturnType<typeof marqueApi>;

export type Loaded<T> = { ok: true; value: T } | Failure;

export interface Failure {
  ok: false;
  status: number;
  code: string;
  detail: string;
  /** Field messages of a 400 `invalid`, for the form. */
  fieldErrors?: Record<string, string[]>;
}

function ok<T>(value: T): Loaded<T> {
  return { ok: true, value };
}

function failure(response: Response, code: string, detail: string): Failure {
  return { ok: false, status: response.status, code, detail };
}

function money(amount: string, currency: string): string {
  return `${amount} ${currency}`;
}

// --- Catalogue (anonymous: the market comes from the X-Market header) --------------

export interface ProductFilters {
  category?: string;
  sizes?: string[];
  ordering?: "price" | "-price" | "-created_at" | "-sales_count" | "-rating_avg";
  inStockOnly?: boolean;
  page?: number;
}

export async function loadProductList(api: MarqueApi, market: SchemaMarketEnum, filters: ProductFilters) {
  const { data, error, response } = await api.GET("/api/v1/products/", {
    params: {
      header: { "X-Market": market },
      query: {
        category: filters.category,
        size: filters.sizes?.join(","),
        ordering: filters.ordering,
        in_stock: filters.inStockOnly,
        page: filters.page,
      },
    },
  });
  if (error) {
    // 400 invalid (a bad filter value) or invalid_market.
    return failure(response, error.code, error.detail);
  }
  return ok({
    total: data.count,
    hasNextPage: data.next !== null,
    cards: data.results.map((product) => ({
      href: `/products/${product.slug}`,
      name: product.name,
      brand: product.brand,
      image: product.main_image,
      // <picture>: WebP with a JPEG fallback, sized by the browser (docs/IMAGES.md).
      picture:
        product.main_image_set === null
          ? null
          : {
              webp: product.main_image_set.srcset.webp,
              jpeg: product.main_image_set.srcset.jpeg,
              width: product.main_image_set.width,
              height: product.main_image_set.height,
              sizes: "(min-width: 1024px) 25vw, 50vw",
            },
      price: money(product.price, product.currency),
      wasPrice: product.original_price === null ? null : money(product.original_price, product.currency),
      discountBadge: product.discount_percent === null ? null : `-${product.discount_percent}%`,
      rating: product.rating_avg,
      reviews: product.reviews_count,
      inStock: product.in_stock,
    })),
  });
}

export async function loadProductPage(api: MarqueApi, market: SchemaMarketEnum, slug: string) {
  const { data, error, response } = await api.GET("/api/v1/products/{slug}/", {
    params: { path: { slug }, header: { "X-Market": market } },
  });
  if (error) {
    if (error.code === "not_found") return failure(response, error.code, "This product is not sold here.");
    return failure(response, error.code, error.detail);
  }
  return ok({
    name: data.name,
    brand: data.brand,
    description: data.description,
    breadcrumb: [data.category.name, data.subcategory?.name],
    price: money(data.price, data.currency),
    wasPrice: data.original_price === null ? null : money(data.original_price, data.currency),
    gallery: data.images.map((image) => ({
      src: image.url,
      alt: image.alt_text,
      srcSet: image.set.srcset.webp,
      // next/image wants the intrinsic size; null until the worker has measured it.
      width: image.set.width ?? undefined,
      height: image.set.height ?? undefined,
      colour: image.color === "" ? null : image.color,
    })),
    sizes: data.skus.map((sku) => ({
      skuId: sku.id,
      label: `${sku.size} / ${sku.color}`,
      swatch: sku.color_hex,
      disabled: !sku.in_stock,
      fewLeft: sku.low_stock,
    })),
    stars: { average: data.rating.average, count: data.rating.count, perStar: data.rating.distribution },
    fit: data.fit_summary,
    inWishlist: data.in_wishlist,
    related: data.related.map((product) => ({
      href: `/products/${product.slug}`,
      name: product.name,
      image: product.main_image,
      price: money(product.price, product.currency),
    })),
  });
}

// --- Cart and checkout (signed in: Authorization: Bearer) ---------------------------

export async function addToCart(api: MarqueApi, skuId: number, quantity: number) {
  const { data, error, response } = await api.POST("/api/v1/cart/items/", {
    body: { sku_id: skuId, quantity },
  });
  if (error) {
    if (error.code === "out_of_stock") return failure(response, error.code, "Sold out in this size.");
    return failure(response, error.code, error.detail);
  }
  return ok({
    badge: data.item_count,
    subtotal: money(data.subtotal, data.currency),
    shipping: money(data.shipping_cost, data.currency),
    total: money(data.total, data.currency),
    freeShippingHint:
      Number(data.left_to_free_shipping) > 0
        ? `Add ${money(data.left_to_free_shipping, data.currency)} for free shipping`
        : null,
    lines: data.items.map((line) => ({
      name: line.product_name,
      variant: `${line.size} / ${line.color}`,
      image: line.image,
      quantity: line.quantity,
      unitPrice: line.unit_price === null ? "—" : money(line.unit_price, data.currency),
      lineTotal: line.line_total === null ? "—" : money(line.line_total, data.currency),
      unavailable: !line.is_available,
    })),
  });
}

export interface CheckoutForm {
  addressId: number;
  paymentMethod: SchemaPaymentMethodEnum;
  comment: string;
  /** The total the customer saw; a different server total is 409 price_changed. */
  expectedTotal: string;
}

/**
 * `idempotencyKey` is made once when the customer presses "Place order"
 * (crypto.randomUUID()) and reused for every retry of that press.
 */
export async function placeOrder(
  api: MarqueApi,
  market: SchemaMarketEnum,
  idempotencyKey: string,
  form: CheckoutForm,
) {
  const { data, error, response } = await api.POST("/api/v1/orders/", {
    params: { header: { "Idempotency-Key": idempotencyKey, "X-Market": market } },
    body: {
      address_id: form.addressId,
      payment_method: form.paymentMethod,
      comment: form.comment,
      expected_total: form.expectedTotal,
    },
  });
  if (error) {
    const shown = failure(response, error.code, error.detail);
    switch (error.code) {
      case "invalid":
        return { ...shown, fieldErrors: error.errors };
      case "cart_empty":
      case "out_of_stock":
      case "price_changed":
        return { ...shown, detail: `${error.detail} Please review your cart.` };
      default:
        return shown;
    }
  }
  return ok({
    orderNumber: data.order_number,
    status: data.status,
    placedAt: data.created_at,
    total: money(data.total, data.currency),
    shipping: money(data.shipping_cost, data.currency),
    items: data.items.map((item) => ({
      name: item.product_name,
      image: item.image,
      quantity: item.quantity,
      lineTotal: money(item.line_total, data.currency),
    })),
  });
}

export async function cancelOrder(api: MarqueApi, orderNumber: string, reason: string) {
  const { data, error, response } = await api.POST("/api/v1/orders/{order_number}/cancel/", {
    params: { path: { order_number: orderNumber } },
    body: { reason },
  });
  if (error) {
    if (error.code === "invalid_transition") {
      return failure(response, error.code, "This order can no longer be cancelled.");
    }
    return failure(response, error.code, error.detail);
  }
  return ok({
    status: data.status,
    cancelledAt: data.cancelled_at,
    canCancel: data.can_cancel,
    refund: money(data.total, data.currency),
  });
}

// --- Manager dashboard --------------------------------------------------------------

export async function loadDashboard(api: MarqueApi) {
  const { data, error, response } = await api.GET("/api/v1/manager/dashboard/");
  if (error) {
    // 401 not_authenticated / token_invalid → sign-in; 403 permission_denied → no access.
    return failure(response, error.code, error.detail);
  }
  const figure = (amount: string | null) => (amount === null ? "—" : money(amount, data.currency));
  return ok({
    market: data.market,
    asOf: data.generated_at,
    showsMoney: data.revenue_visible,
    revenueToday: figure(data.today.revenue),
    ordersToday: data.today.orders_count,
    averageOrder: figure(data.today.average_order_value),
    itemsSold: data.today.items_sold,
    revenueChange: data.change_percent.revenue,
    ordersChange: data.change_percent.orders_count,
    pendingOrders: data.pending_orders,
    chart: data.last_7_days.map((day) => ({ x: day.date, revenue: day.revenue, orders: day.orders_count })),
    topProducts: data.top_products.map((p) => ({ name: p.name, units: p.units, revenue: figure(p.revenue) })),
    lowStock: data.low_stock.map((sku) => ({ label: `${sku.product_name} ${sku.size}/${sku.color}`, left: sku.stock })),
    unread: data.unread_notifications,
  });
}

// --- Real-time events (docs/REALTIME.md) ----------------------------------------------

/** A single-use, 30-second ticket for `wss://…/ws/v1/events/?ticket=…`. */
export async function openEventsTicket(api: MarqueApi) {
  const { data, error, response } = await api.POST("/api/v1/realtime/ticket/");
  if (error) {
    // 401 → refresh the access token first; 429 / 503 → retry after Retry-After.
    return failure(response, error.code, error.detail);
  }
  return ok({ ticket: data.ticket, expiresIn: data.expires_in });
}

/** After a reconnect: what the socket missed (delivery is at most once). */
export async function loadMissedNotifications(api: MarqueApi, socketClosedAt: string) {
  const { data, error, response } = await api.GET("/api/v1/users/me/notifications/", {
    params: { query: { since: socketClosedAt } },
  });
  if (error) {
    return failure(response, error.code, error.detail);
  }
  return ok(data.results.map((n) => ({ id: n.id, title: n.title, unread: !n.is_read })));
}
